/** A tiny History-API router: the local server and CloudFront both fall back to index.html. */
import { useCallback, useEffect, useState } from 'react';

export type Route = 'files' | 'admin' | 'signin' | 'signup';

export function routeOf(pathname: string): Route {
  if (pathname.startsWith('/admin')) return 'admin';
  if (pathname.startsWith('/signup')) return 'signup';
  if (pathname.startsWith('/signin')) return 'signin';
  return 'files';
}

export const PATHS: Record<Route, string> = { files: '/', admin: '/admin', signin: '/signin', signup: '/signup' };

export function useRoute(): [Route, (r: Route, replace?: boolean) => void] {
  const [route, setRoute] = useState<Route>(() => routeOf(window.location.pathname));
  useEffect(() => {
    const onPop = () => setRoute(routeOf(window.location.pathname));
    window.addEventListener('popstate', onPop);
    return () => window.removeEventListener('popstate', onPop);
  }, []);
  const go = useCallback((r: Route, replace = false) => {
    if (window.location.pathname !== PATHS[r]) {
      if (replace) window.history.replaceState(null, '', PATHS[r]);
      else window.history.pushState(null, '', PATHS[r]);
    }
    setRoute(r);
  }, []);
  return [route, go];
}
