/** A scriptable fetch for component tests: routes "METHOD /path" to JSON answers and records calls. */
export type Handler = (req: { method: string; path: string; query: URLSearchParams; body: unknown; headers: Record<string, string> }) => { status?: number; body?: unknown; headers?: Record<string, string> } | Promise<{ status?: number; body?: unknown; headers?: Record<string, string> }>;

export function fakeFetch(routes: Record<string, Handler>) {
  const calls: { method: string; path: string; body: unknown }[] = [];
  const fetch = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const url = new URL(String(input), 'http://localhost');
    const method = init?.method ?? 'GET';
    let body: unknown = init?.body;
    if (typeof body === 'string') {
      try {
        body = JSON.parse(body);
      } catch {
        /* raw */
      }
    }
    calls.push({ method, path: url.pathname, body });
    const key = Object.keys(routes).find((k) => {
      const [m, p] = k.split(' ');
      if (m !== method || !p) return false;
      const re = new RegExp(`^${p.replace(/\{[^}]+\}/g, '[^/]+')}$`);
      return re.test(url.pathname);
    });
    const h = key ? routes[key] : undefined;
    if (!h) return new Response(JSON.stringify({ success: false, error: { code: 'not_found', message: `No route ${method} ${url.pathname}` } }), { status: 404, headers: { 'Content-Type': 'application/json' } });
    const signal = init?.signal;
    const aborted = new Promise<never>((_, reject) => {
      const fail = () => reject(new DOMException('The operation was aborted.', 'AbortError'));
      if (signal?.aborted) fail();
      signal?.addEventListener('abort', fail, { once: true });
    });
    const r = await Promise.race([h({ method, path: url.pathname, query: url.searchParams, body, headers: (init?.headers ?? {}) as Record<string, string> }), aborted]);
    return new Response(r.body === undefined ? null : JSON.stringify(r.body), { status: r.status ?? 200, headers: { 'Content-Type': 'application/json', ...(r.headers ?? {}) } });
  };
  return { fetch, calls };
}

export function jwt(claims: Record<string, unknown>): string {
  const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64(claims)}.sig`;
}

export const USER = { id: 'u1', username: 'ann', email: 'ann@example.com', role: 'user' as const };
export const ADMIN = { id: 'a1', username: 'root', email: 'root@example.com', role: 'admin' as const };
