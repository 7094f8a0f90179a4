import { useEffect, useRef, useState, type FormEvent } from 'react';
import { ApiError, errorMessage, type Api, type Session } from '../api.js';
import { Logo } from '../App.js';

interface Props {
  api: Api;
  mode: 'signin' | 'signup';
  notice?: string;
  onSwitch: (m: 'signin' | 'signup') => void;
  onSignedIn: (s: Session) => void;
}

export function AuthScreen({ api, mode, notice, onSwitch, onSignedIn }: Props) {
  const [username, setUsername] = useState('');
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<{ message: string; field?: string }>();
  const signup = mode === 'signup';

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (signup && password.length < 8) {
      setError({ message: 'Use a password of at least 8 characters.', field: 'password' });
      return;
    }
    setBusy(true);
    setError(undefined);
    try {
      const s = signup ? await api.register({ username: username.trim(), email: email.trim(), password }) : await api.login({ email: email.trim(), password });
      onSignedIn(s);
    } catch (err) {
      setError({ message: errorMessage(err), ...(err instanceof ApiError && err.extra.field ? { field: err.extra.field } : {}) });
      setBusy(false);
    }
  };

  const invalid = (f: string) => (error?.field === f ? true : undefined);
  const form = useRef<HTMLFormElement>(null);
  // An error about one field is shown under it, and focus moves there.
  useEffect(() => {
    if (error?.field) form.current?.querySelector<HTMLInputElement>(`input[name="${error.field}"]`)?.focus();
  }, [error]);
  const fieldError = (f: string) =>
    error?.field === f ? (
      <small id={`${f}-error`} className="field-error" role="alert">
        {error.message}
      </small>
    ) : null;
  const describedBy = (f: string, extra?: string) => [error?.field === f ? `${f}-error` : undefined, extra].filter(Boolean).join(' ') || undefined;
  const fieldNames = new Set(['username', 'email', 'password']);

  return (
    <main id="main" className="auth">
      <div className="auth-card">
        <div className="auth-brand">
          <Logo /> <span>EchoFS</span>
        </div>
        <h1>{signup ? 'Create your account' : 'Sign in'}</h1>
        <p className="muted">Files replicated across regions, with consistency that adapts to the network.</p>
        {notice && !error && (
          <div className="banner banner-info" role="status">
            {notice}
          </div>
        )}
        {error && !(error.field && fieldNames.has(error.field)) && (
          <div className="banner banner-error" role="alert">
            {error.message}
          </div>
        )}
        <form ref={form} onSubmit={submit} noValidate>
          {signup && (
            <label className="field">
              <span>Username</span>
              <input name="username" autoComplete="username" required value={username} onChange={(e) => setUsername(e.target.value)} aria-invalid={invalid('username')} aria-describedby={describedBy('username')} />
              {fieldError('username')}
            </label>
          )}
          <label className="field">
            <span>Email</span>
            <input name="email" type="email" autoComplete="email" required value={email} onChange={(e) => setEmail(e.target.value)} aria-invalid={invalid('email')} aria-describedby={describedBy('email')} />
            {fieldError('email')}
          </label>
          <div className="field">
            <label htmlFor="auth-password">Password</label>
            <input
              id="auth-password"
              name="password"
              type="password"
              autoComplete={signup ? 'new-password' : 'current-password'}
              required
              minLength={signup ? 8 : undefined}
              value={password}
              onChange={(e) => setPassword(e.target.value)}
              aria-invalid={invalid('password')}
              aria-describedby={describedBy('password', signup ? 'pw-hint' : undefined)}
            />
            {fieldError('password')}
            {signup && <small id="pw-hint" className="muted">At least 8 characters.</small>}
          </div>
          <button type="submit" className="btn btn-primary btn-block" disabled={busy}>
            {busy ? (signup ? 'Creating account…' : 'Signing in…') : signup ? 'Create account' : 'Sign in'}
          </button>
        </form>
        <p className="auth-switch">
          {signup ? 'Already have an account?' : 'New to EchoFS?'}{' '}
          <a
            href={signup ? '/signin' : '/signup'}
            onClick={(e) => {
              e.preventDefault();
              setError(undefined);
              onSwitch(signup ? 'signin' : 'signup');
            }}
          >
            {signup ? 'Sign in' : 'Create an account'}
          </a>
        </p>
      </div>
    </main>
  );
}
