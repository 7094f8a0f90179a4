import { useEffect, useRef, useState, type FormEvent } from 'react';
import { ApiError, errorMessage, type Api, type Session, type User } from '../api.js';
import { PageHead, useToast } from './ui.js';

type Field = 'current_password' | 'new_password' | 'confirm_password';
const FIELDS: readonly Field[] = ['current_password', 'new_password', 'confirm_password'];

/**
 * The account page: who is signed in, and the password change. A new password signs out every
 * other device (the server revokes earlier tokens) and this one continues with the new session.
 */
export function AccountPage({ api, user, onSession }: { api: Api; user: User; onSession: (s: Session) => void }) {
  const [values, setValues] = useState<Record<Field, string>>({ current_password: '', new_password: '', confirm_password: '' });
  const [error, setError] = useState<{ message: string; field?: Field }>();
  const [busy, setBusy] = useState(false);
  const form = useRef<HTMLFormElement>(null);
  const notify = useToast();

  // An error about one field is shown under it, and focus moves there.
  useEffect(() => {
    if (error?.field) form.current?.querySelector<HTMLInputElement>(`input[name="${error.field}"]`)?.focus();
  }, [error]);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (values.current_password === '') return setError({ message: 'Enter your current password.', field: 'current_password' });
    if (values.new_password.length < 8) return setError({ message: 'Use a new password of at least 8 characters.', field: 'new_password' });
    if (values.new_password !== values.confirm_password) return setError({ message: 'The two new passwords differ.', field: 'confirm_password' });
    setBusy(true);
    setError(undefined);
    try {
      const s = await api.changePassword({ current_password: values.current_password, new_password: values.new_password });
      onSession(s);
      setValues({ current_password: '', new_password: '', confirm_password: '' });
      notify({ message: 'Password changed. Other devices are signed out.', tone: 'success' });
    } catch (err) {
      const field = err instanceof ApiError ? FIELDS.find((f) => f === err.extra.field) : undefined;
      setError({ message: errorMessage(err), ...(field ? { field } : {}) });
    } finally {
      setBusy(false);
    }
  };

  const input = (name: Field, label: string, autoComplete: string, hint?: string) => (
    <div className="field">
      <label htmlFor={`account-${name}`}>{label}</label>
      <input
        id={`account-${name}`}
        name={name}
        type="password"
        autoComplete={autoComplete}
        required
        value={values[name]}
        onChange={(e) => setValues((v) => ({ ...v, [name]: e.target.value }))}
        aria-invalid={error?.field === name ? true : undefined}
        aria-describedby={[error?.field === name ? `${name}-error` : undefined, hint ? `${name}-hint` : undefined].filter(Boolean).join(' ') || undefined}
      />
      {error?.field === name && (
        <small id={`${name}-error`} className="field-error" role="alert">
          {error.message}
        </small>
      )}
      {hint && (
        <small id={`${name}-hint`} className="muted">
          {hint}
        </small>
      )}
    </div>
  );

  return (
    <div className="page account-page">
      <PageHead
        title="Account"
        subtitle={
          <>
            Signed in as <strong>{user.username || user.email}</strong> ({user.email}).
          </>
        }
      />
      <section className="card account-card" aria-labelledby="password-heading">
        <h2 id="password-heading">Change password</h2>
        <p className="muted small">Changing it signs out every other device where you are signed in.</p>
        {error && !error.field && (
          <div className="banner banner-error" role="alert">
            {error.message}
          </div>
        )}
        <form ref={form} onSubmit={(e) => void submit(e)} noValidate>
          {input('current_password', 'Current password', 'current-password')}
          {input('new_password', 'New password', 'new-password', 'At least 8 characters.')}
          {input('confirm_password', 'New password again', 'new-password')}
          <button type="submit" className="btn btn-primary" disabled={busy}>
            {busy ? 'Changing…' : 'Change password'}
          </button>
        </form>
      </section>
    </div>
  );
}
