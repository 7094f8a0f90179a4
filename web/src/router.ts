/** A tiny History-API router: the local server and CloudFront both fall back to index.html. */
import { useCallback, useEffect, useState } from 'react';

export type Route = 'files' | 'trash' | 'admin' | 'account' | 'signin' | 'signup' | 'notfound';

export const PATHS: Record<Route, string> = { files: '/', trash: '/trash', admin: '/admin', account: '/account', signin: '/signin', signup: '/signup', notfound: '/404' };

/** The page of a path; a path no page owns is `notfound` (the app shows a 404 page, not the file list). */
export function routeOf(pathname: string): Route {
  const p = pathname.length > 1 ? pathname.replace(/\/+$/, '') : pathname;
  if (p === '' || p === '/' || p === '/index.html' || p === '/files') return 'files';
  for (const r of ['trash', 'admin', 'account', 'signin', 'signup'] as const) if (p === PATHS[r]) return r;
  return 'notfound';
}

/** Routes that need a signed-in user. */
export const PRIVATE_ROUTES: ReadonlySet<Route> = new Set(['files', 'trash', 'admin', 'account']);

export function useRoute(): [Route, (r: Route, replace?: boolean) => void] {
  const [route, setRoute] = useState<Route>(() => routeOf(window.location.pathname));
  useEffect(() => {
    const onPop = () => setRoute(routeOf(window.location.pathname));
    window.addEventListener('popstate', onPop);
    return () => window.removeEventListener('popstate', onPop);
  }, []);
  const go = useCallback((r: Route, replace = false) => {
    // The 404 page keeps the address the person typed, so it can be corrected.
    if (r !== 'notfound' && window.location.pathname !== PATHS[r]) {
      if (replace) window.history.replaceState(null, '', PATHS[r]);
      else window.history.pushState(null, '', PATHS[r]);
    }
    setRoute(r);
  }, []);
  return [route, go];
}
