import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Not counted in the HTTP metrics (the scrape route itself). */
    untracked?: boolean;
  }
}

/** Latency buckets, in seconds: 1 ms to 5 s. */
export const HTTP_LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5];

/** Status recorded for a request whose client went away before the answer was complete (nginx's convention). */
export const CLIENT_CLOSED_STATUS = 499;

/** The `endpoint` label of a request: a route template or another small fixed set, never the raw URL. */
export type EndpointOf = (request: FastifyRequest) => string;

/** The route template Fastify matched (`/quotes/:id`), or `unmatched` for a 404 without a route. */
export const routeEndpoint: EndpointOf = (request) => request.routeOptions.url ?? 'unmatched';

interface Pending {
  readonly started: bigint;
  readonly method: string;
  readonly endpoint: string;
  done: boolean;
}

/**
 * `http_requests_total{method,endpoint,http_status}`, `http_request_latency_seconds{method,endpoint}`
 * and `http_requests_in_progress{method,endpoint}` (the spec's 6.6.3.1 series),
 * measured from onRequest to onResponse. A request whose client leaves before
 * the answer ends is closed off when its connection closes (status 499), so
 * the in-progress gauge always comes back down. Routes with `config.untracked`
 * are left out.
 */
export function registerHttpMetrics(app: FastifyInstance, registry: Registry, endpointOf: EndpointOf = routeEndpoint): void {
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

  // Labelled children are cached: the label sets are few, and hashing them per request is not free.
  const series = new Map<string, { latency: Histogram.Internal<string>; inProgress: Gauge.Internal<string> }>();
  const seriesOf = (method: string, endpoint: string) => {
    const key = `${method} ${endpoint}`;
    let found = series.get(key);
    if (found === undefined) {
      found = { latency: latency.labels(method, endpoint), inProgress: inProgress.labels(method, endpoint) };
      series.set(key, found);
    }
    return found;
  };
  const pending = new WeakMap<FastifyRequest, Pending>();

  const finish = (state: Pending, status: number): void => {
    if (state.done) return;
    state.done = true;
    const { latency: observed, inProgress: running } = seriesOf(state.method, state.endpoint);
    running.dec();
    observed.observe(Number(process.hrtime.bigint() - state.started) / 1e9);
    requests.labels(state.method, state.endpoint, String(status)).inc();
  };

  app.addHook('onRequest', (request: FastifyRequest, reply: FastifyReply, done) => {
    if (request.routeOptions.config?.untracked !== true) {
      const state: Pending = {
        started: process.hrtime.bigint(),
        method: request.method,
        endpoint: endpointOf(request),
        done: false,
      };
      pending.set(request, state);
      seriesOf(state.method, state.endpoint).inProgress.inc();
      reply.raw.once('close', () => finish(state, reply.raw.writableFinished ? reply.statusCode : CLIENT_CLOSED_STATUS));
    }
    done();
  });
  app.addHook('onResponse', (request, reply, done) => {
    const state = pending.get(request);
    if (state !== undefined) finish(state, reply.statusCode);
    done();
  });
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
