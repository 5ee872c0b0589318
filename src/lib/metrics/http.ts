import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { RequestCompletion } from '../http/completion.ts';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Not counted in the HTTP metrics (the scrape route itself). */
    untracked?: boolean;
  }
}

/** Latency buckets, in seconds: 1 ms to 5 s. */
export const HTTP_LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5];

export { CLIENT_CLOSED_STATUS } from '../http/completion.ts';

/** The `endpoint` label of a request: a route template or another small fixed set, never the raw URL. */
export type EndpointOf = (request: FastifyRequest) => string;

/** The route template Fastify matched (`/quotes/:id`), or `unmatched` for a 404 without a route. */
export const routeEndpoint: EndpointOf = (request) => request.routeOptions.url ?? 'unmatched';

/** The labelled children of one `method` × `endpoint`, resolved once and kept: labels are never hashed per request. */
interface Series {
  readonly method: string;
  readonly endpoint: string;
  readonly latency: Histogram.Internal<string>;
  readonly inProgress: Gauge.Internal<string>;
  /** `http_requests_total` children by status code, filled as statuses are first seen. */
  readonly byStatus: Map<number, Counter.Internal>;
}

/** The series a measured request counts in, kept on the request between its start and its end. */
const SERIES = Symbol('haddock.httpMetrics');
type Measured = FastifyRequest & { [SERIES]?: Series };

/**
 * `http_requests_total{method,endpoint,http_status}`, `http_request_latency_seconds{method,endpoint}`
 * and `http_requests_in_progress{method,endpoint}` (the spec's 6.6.3.1 series),
 * measured over Fastify's own request clock (`reply.elapsedTime`), as a part of
 * the app's request completion (`trackCompletion`): a request whose client
 * leaves before the answer ends is counted with status 499, so the
 * in-progress gauge always comes back down. Routes with `config.untracked`
 * are left out.
 *
 * The hot path allocates one small record per request: the labelled children
 * of a route are resolved the first time it is hit (by its config object when
 * the endpoint is the route template, by method and endpoint otherwise) and
 * reused.
 */
export function httpMetrics(registry: Registry, endpointOf?: EndpointOf): RequestCompletion {
  const requests = new Counter({
    name: 'http_requests_total',
    help: 'HTTP requests answered, by method, route template and status',
    labelNames: ['method', 'endpoint', 'http_status'],
    registers: [registry],
  });
  const latency = new Histogram({
    name: 'http_request_latency_seconds',
    help: 'Time from the request arriving to the answer sent, by method and route template',
    labelNames: ['method', 'endpoint'],
    buckets: HTTP_LATENCY_BUCKETS,
    registers: [registry],
  });
  const inProgress = new Gauge({
    name: 'http_requests_in_progress',
    help: 'HTTP requests being answered now, by method and route template',
    labelNames: ['method', 'endpoint'],
    registers: [registry],
  });

  const byName = new Map<string, Map<string, Series>>();
  const seriesOf = (method: string, endpoint: string): Series => {
    let methods = byName.get(endpoint);
    if (methods === undefined) {
      methods = new Map();
      byName.set(endpoint, methods);
    }
    let found = methods.get(method);
    if (found === undefined) {
      found = {
        method,
        endpoint,
        latency: latency.labels(method, endpoint),
        inProgress: inProgress.labels(method, endpoint),
        byStatus: new Map(),
      };
      methods.set(method, found);
    }
    return found;
  };
  // By route: a route's config object lives as long as the route, one per method and URL.
  const untracked = Symbol('untracked');
  const byRoute = new WeakMap<object, Map<string, Series | typeof untracked>>();
  const resolve = (request: FastifyRequest): Series | undefined => {
    const options = request.routeOptions;
    const config = options.config as object | undefined;
    if (endpointOf !== undefined || config === undefined) {
      if ((config as { untracked?: boolean } | undefined)?.untracked === true) return undefined;
      return seriesOf(request.method, endpointOf === undefined ? (options.url ?? 'unmatched') : endpointOf(request));
    }
    let methods = byRoute.get(config);
    if (methods === undefined) {
      methods = new Map();
      byRoute.set(config, methods);
    }
    let found = methods.get(request.method);
    if (found === undefined) {
      found =
        (config as { untracked?: boolean }).untracked === true ? untracked : seriesOf(request.method, options.url ?? 'unmatched');
      methods.set(request.method, found);
    }
    return found === untracked ? undefined : found;
  };

  return {
    started: (request) => {
      const series = resolve(request);
      if (series === undefined) return;
      series.inProgress.inc();
      (request as Measured)[SERIES] = series;
    },
    settled: (request, reply, status) => {
      const series = (request as Measured)[SERIES];
      if (series === undefined) return;
      series.inProgress.dec();
      series.latency.observe(reply.elapsedTime / 1_000);
      let counter = series.byStatus.get(status);
      if (counter === undefined) {
        counter = requests.labels(series.method, series.endpoint, String(status));
        series.byStatus.set(status, counter);
      }
      counter.inc();
    },
  };
}

/**
 * `GET <path>` answering the registry in Prometheus's text format: hidden
 * from the OpenAPI document, not counted in the HTTP metrics, logged at debug.
 * Unauthenticated by design: it is scraped inside the cluster, and the gateway
 * never proxies `/metrics`.
 */
export function registerMetricsRoute(app: FastifyInstance, registry: Registry, path = '/metrics'): void {
  app.get(path, { schema: { hide: true }, config: { untracked: true, quietLog: true } }, async (_request, reply) => {
    const text = await registry.metrics();
    return reply.type(registry.contentType).send(text);
  });
}
