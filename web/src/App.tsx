import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { createApi, type Api, type Session } from './api.js';
import { isExpired, loadSession, saveSession, tokenExpiry } from './session.js';
import { PATHS, PRIVATE_ROUTES, useRoute, type Route } from './router.js';
import { AuthScreen } from './components/AuthScreen.js';
import { FilesPage } from './components/FilesPage.js';
import { Dashboard } from './components/Dashboard.js';
import { TrashPage } from './components/TrashPage.js';
import { AccountPage } from './components/AccountPage.js';
import { ToastProvider } from './components/ui.js';

export const EXPIRED_MESSAGE = 'Your session has expired. Please sign in again.';

export function App({ apiFactory = createApi }: { apiFactory?: typeof createApi }) {
  const [session, setSession] = useState<Session | undefined>(() => {
    const s = loadSession();
    return s && !isExpired(s.token) ? s : undefined;
  });
  const [notice, setNotice] = useState<string | undefined>(() => {
    const s = loadSession();
    return s && isExpired(s.token) ? EXPIRED_MESSAGE : undefined;
  });
  const [route, go] = useRoute();
  const tokenRef = useRef(session?.token);
  tokenRef.current = session?.token;

  const expire = useCallback(() => {
    saveSession(undefined);
    tokenRef.current = undefined;
    setSession(undefined);
    setNotice(EXPIRED_MESSAGE);
  }, []);

  const api: Api = useMemo(
    () => apiFactory({ getToken: () => tokenRef.current, onUnauthorized: expire }),
    [apiFactory, expire],
  );

  // Sign out when the token's own expiry passes, even without a request.
  useEffect(() => {
    const exp = session ? tokenExpiry(session.token) : undefined;
    if (exp === undefined) return;
    const t = setTimeout(expire, Math.max(0, Math.min(exp * 1000 - Date.now(), 2 ** 31 - 1)));
    return () => clearTimeout(t);
  }, [session, expire]);

  // Keep the route consistent with the session and the role.
  useEffect(() => {
    if (!session && PRIVATE_ROUTES.has(route)) go('signin', true);
    else if (session && (route === 'signin' || route === 'signup')) go('files', true);
    else if (session && route === 'admin' && session.user.role !== 'admin') go('files', true);
  }, [session, route, go]);

  const signedIn = (s: Session) => {
    saveSession(s);
    tokenRef.current = s.token;
    setNotice(undefined);
    setSession(s);
    go('files', true);
  };

  /** A new session for the same account (after a password change): earlier tokens no longer work. */
  const sessionChanged = (s: Session) => {
    saveSession(s);
    tokenRef.current = s.token;
    setSession(s);
  };

  const signOut = () => {
    // Revoke the token on the server too; signing out here never waits for or depends on it.
    void api.logout?.().catch(() => undefined);
    saveSession(undefined);
    setSession(undefined);
    setNotice('You have signed out.');
    go('signin', true);
  };

  return (
    <ToastProvider>
      {!session && route === 'notfound' ? (
        <main id="main" className="auth">
          <div className="auth-card">
            <NotFound onHome={() => go('signin')} homeLabel="Go to sign in" />
          </div>
        </main>
      ) : !session ? (
        <AuthScreen
          api={api}
          mode={route === 'signup' ? 'signup' : 'signin'}
          notice={notice}
          onSwitch={(m) => go(m)}
          onSignedIn={signedIn}
        />
      ) : (
        <div className="shell">
          <a className="skip-link" href="#main">
            Skip to content
          </a>
          <header className="topbar">
            <a className="brand" href="/" onClick={(e) => { e.preventDefault(); go('files'); }}>
              <Logo /> EchoFS
            </a>
            <nav className="nav" aria-label="Main">
              <NavLink route="files" current={route} go={go}>Files</NavLink>
              <NavLink route="trash" current={route} go={go}>Trash</NavLink>
              {session.user.role === 'admin' && (
                <NavLink route="admin" current={route} go={go}>Consistency</NavLink>
              )}
            </nav>
            <div className="account">
              <a
                href={PATHS.account}
                className={`account-name${route === 'account' ? ' active' : ''}`}
                title={`Account of ${session.user.email}`}
                aria-current={route === 'account' ? 'page' : undefined}
                onClick={(e) => {
                  e.preventDefault();
                  go('account');
                }}
              >
                {session.user.username || session.user.email}
                {session.user.role === 'admin' && <span className="tag">admin</span>}
              </a>
              <button type="button" className="btn btn-ghost btn-small" onClick={signOut}>
                Sign out
              </button>
            </div>
          </header>
          <main id="main" className="main" tabIndex={-1}>
            {route === 'notfound' ? (
              <NotFound onHome={() => go('files')} homeLabel="Go to your files" />
            ) : route === 'admin' && session.user.role === 'admin' ? (
              <Dashboard api={api} />
            ) : route === 'account' ? (
              <AccountPage api={api} user={session.user} onSession={sessionChanged} />
            ) : route === 'trash' ? (
              <TrashPage api={api} />
            ) : (
              <FilesPage api={api} />
            )}
          </main>
        </div>
      )}
    </ToastProvider>
  );
}

function NavLink({ route, current, go, children }: { route: Route; current: Route; go: (r: Route) => void; children: string }) {
  return (
    <a
      href={PATHS[route]}
      className={`nav-link${current === route ? ' active' : ''}`}
      aria-current={current === route ? 'page' : undefined}
      onClick={(e) => {
        e.preventDefault();
        go(route);
      }}
    >
      {children}
    </a>
  );
}

/** Shown for an address no page owns (the server answers index.html for every path). */
export function NotFound({ onHome, homeLabel }: { onHome: () => void; homeLabel: string }) {
  return (
    <div className="page not-found" data-testid="not-found">
      <p className="not-found-code" aria-hidden="true">404</p>
      <h1>Page not found</h1>
      <p className="muted">
        There is no page at <code>{window.location.pathname}</code>. The link may be mistyped or out of date.
      </p>
      <button type="button" className="btn btn-primary" onClick={onHome}>
        {homeLabel}
      </button>
    </div>
  );
}

export function Logo() {
  return (
    <svg width="24" height="24" viewBox="0 0 32 32" aria-hidden="true" className="logo">
      <rect width="32" height="32" rx="8" fill="currentColor" />
      <path d="M9 11h14M9 16h10M9 21h14" stroke="white" strokeWidth="3" strokeLinecap="round" />
    </svg>
  );
}
