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

/** The gateway's own liveness route: the process answers (never relayed, never rate-limited). */
export const GATEWAY_HEALTH_PATH = '/gateway/health';

/**
 * The services' health routes as `registerHealthRoutes` serves them (`/<service>/health`, `…/health/ready`,
 * `…/health/live`): the gateway relays them outside the rate limit, as Traefik gives them a router of their
 * own, so operators' probes never read a 429. Exact paths only: any other spelling is rate-limited as usual.
 */
export const HEALTH_PATHS: readonly string[] = ['users', 'quotes', 'search', 'ops'].flatMap((service) => [
  `/${service}/health`,
  `/${service}/health/ready`,
  `/${service}/health/live`,
]);

/**
 * True when a request target holds what the URL parsing of the relay (WHATWG) would rewrite before sending
 * it on: a fragment `#` (never part of a request target: dropped with all that follows) or a backslash in
 * the path (read as `/`: `/\evil.example` becomes another origin, `/quotes\..\users` another path). The
 * gateway routes and filters the target as sent, so one the upstream would receive differently is refused
 * (400) rather than relayed. A backslash in the query is left alone: the URL parsing keeps it there.
 */
export function isRewrittenTarget(target: string): boolean {
  if (target.includes('#')) return true;
  const backslash = target.indexOf('\\');
  if (backslash === -1) return false;
  const query = target.indexOf('?');
  return query === -1 || backslash < query;
}

/** The gateway's `endpoint` label and log `route`: a fixed set, so a path never becomes a label value. */
export type GatewayEndpoint =
  | '/'
  | '/users*'
  | '/quotes*'
  | '/search*'
  | '/ops*'
  | '/apidocs*'
  | typeof GATEWAY_HEALTH_PATH
  | 'unmatched';

/**
 * Names a request path by the route family that answers it: `/quotes*` and
 * `/search*` are their services' prefixes (as `upstreamFor` matches them),
 * `/users*` and `/` go to users, `/apidocs*` is the gateway's own page, `/gateway/health` its liveness, and
 * anything else (a path no service routes, `/metrics`) is `unmatched`.
 */
export function gatewayEndpoint(path: string): GatewayEndpoint {
  if (path === '/') return '/';
  if (isDocsPath(path)) return '/apidocs*';
  if (path === GATEWAY_HEALTH_PATH) return GATEWAY_HEALTH_PATH;
  if (isPrivatePath(path)) return 'unmatched';
  const upstream = upstreamFor(path);
  if (upstream === 'quotes') return '/quotes*';
  if (upstream === 'search') return '/search*';
  if (upstream === 'ops') return '/ops*';
  return path.startsWith('/users') ? '/users*' : 'unmatched';
}
