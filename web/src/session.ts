/** The signed-in session, kept in localStorage so a reload stays signed in until the token expires. */
import type { Session, User } from './api.js';

const KEY = 'echofs.session';

/** The `exp` claim (seconds since the epoch) of a JWT, if it has one. The signature is the server's business. */
export function tokenExpiry(token: string): number | undefined {
  const part = token.split('.')[1];
  if (!part) return undefined;
  try {
    const b64 = part.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(part.length / 4) * 4, '=');
    const claims = JSON.parse(atob(b64)) as { exp?: unknown };
    return typeof claims.exp === 'number' ? claims.exp : undefined;
  } catch {
    return undefined;
  }
}

export function isExpired(token: string, nowMs: number = Date.now()): boolean {
  const exp = tokenExpiry(token);
  return exp !== undefined && exp * 1000 <= nowMs;
}

function isUser(v: unknown): v is User {
  const u = v as Partial<User> | null;
  return !!u && typeof u.id === 'string' && typeof u.email === 'string' && (u.role === 'user' || u.role === 'admin');
}

export function loadSession(storage: Pick<Storage, 'getItem'> | undefined = globalThis.localStorage): Session | undefined {
  try {
    const raw = storage?.getItem(KEY);
    if (!raw) return undefined;
    const s = JSON.parse(raw) as Partial<Session>;
    if (typeof s.token !== 'string' || !isUser(s.user)) return undefined;
    return { token: s.token, user: s.user };
  } catch {
    return undefined;
  }
}

export function saveSession(s: Session | undefined, storage: Pick<Storage, 'setItem' | 'removeItem'> | undefined = globalThis.localStorage): void {
  try {
    if (s) storage?.setItem(KEY, JSON.stringify(s));
    else storage?.removeItem(KEY);
  } catch {
    /* storage may be unavailable (private mode); the session then lasts for this page only */
  }
}
