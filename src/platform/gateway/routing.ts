/** The upstream services the gateway routes to. */
export type UpstreamName = 'users' | 'quotes' | 'search' | 'ops';

/**
 * The original Traefik rules: `PathPrefix(/quotes)` and `PathPrefix(/search)`
 * go to their services, everything else (`/`, `/users…`) to users; this
 * platform adds `PathPrefix(/ops)` for the operations service. The path
 * is matched as sent, like Traefik; the query string is not part of it.
 */
export function upstreamFor(path: string): UpstreamName {
  if (path.startsWith('/quotes')) return 'quotes';
  if (path.startsWith('/search')) return 'search';
  if (path.startsWith('/ops')) return 'ops';
  return 'users';
}

const METRICS_AT_END = /metrics\/*$/i;

/**
 * True for `/metrics` and `/<anything>/metrics`: scrape endpoints stay on the
 * private network. The path is percent-decoded and its slashes collapsed
 * first, because the services' router would decode `/%6Detrics` or accept
 * `/metrics/` and answer the real thing.
 */
export function isPrivatePath(path: string): boolean {
  // Every request asks: the common answer (no escape, no `metrics` at the end) is one test.
  if (!path.includes('%') && !METRICS_AT_END.test(path)) return false;
  let decoded = path;
  try {
    decoded = decodeURIComponent(path);
  } catch {
    // An invalid escape is left as sent; the upstream router rejects it.
  }
  const normalized = decoded
    .replace(/\/{2,}/g, '/')
    .replace(/\/+$/, '')
    .toLowerCase();
  return /^(\/[^/]+)?\/metrics$/.test(normalized);
}

/** The gateway's own documentation routes (never proxied, never rate-limited). */
export function isDocsPath(path: string): boolean {
  return path === '/apidocs' || path.startsWith('/apidocs/');
}

/** The gateway's `endpoint` label and log `route`: a fixed set, so a path never becomes a label value. */
export type GatewayEndpoint = '/' | '/users*' | '/quotes*' | '/search*' | '/ops*' | '/apidocs*' | 'unmatched';

/**
 * Names a request path by the route family that answers it: `/quotes*` and
 * `/search*` are their services' prefixes (as `upstreamFor` matches them),
 * `/users*` and `/` go to users, `/apidocs*` is the gateway's own page, and
 * anything else (a path no service routes, `/metrics`) is `unmatched`.
 */
export function gatewayEndpoint(path: string): GatewayEndpoint {
  if (path === '/') return '/';
  if (isDocsPath(path)) return '/apidocs*';
  if (isPrivatePath(path)) return 'unmatched';
  const upstream = upstreamFor(path);
  if (upstream === 'quotes') return '/quotes*';
  if (upstream === 'search') return '/search*';
  if (upstream === 'ops') return '/ops*';
  return path.startsWith('/users') ? '/users*' : 'unmatched';
}
