import rateLimit from '@fastify/rate-limit';
import replyFrom, { type FastifyReplyFromHooks, type FastifyReplyFromOptions } from '@fastify/reply-from';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { appError } from '../../lib/errors/index.ts';
import { attachMetricsApp, createHttpApp, type OpenApiSource } from '../../lib/http/index.ts';
import { pathOnly } from '../../lib/logging/index.ts';
import { Counter, createRegistry, type Registry } from '../../lib/metrics/index.ts';
import type { GatewayConfig } from './config.ts';
import { acceptBodiesWithinLimit, refuseConnect } from './intake.ts';
import { PlatformDocs } from './openapi.ts';
import {
  GATEWAY_HEALTH_PATH,
  gatewayEndpoint,
  HEALTH_PATHS,
  isPrivatePath,
  isRewrittenTarget,
  type UpstreamName,
  upstreamFor,
} from './routing.ts';
import { prepareRelay, relayOptions, UPSTREAM_ERROR_KINDS, UPSTREAM_NAMES, UpstreamPools, withBody } from './upstreams.ts';

export interface GatewayOptions {
  /** false silences the JSON logger (tests). */
  readonly logger?: boolean;
  /** Where the JSON log lines go instead of stdout (tests capture them). */
  readonly logStream?: NodeJS.WritableStream;
  /** A fixed document to serve at /apidocs; by default the services' own, fetched from them and merged. */
  readonly openapi?: object;
  /** The rate limit's window (tests shorten it); the contract is one minute. */
  readonly rateLimitWindowMs?: number;
}

/** The gateway, and its separate metrics app: listen on it at GATEWAY_METRICS_HOST:GATEWAY_METRICS_PORT, never publicly. */
export interface GatewayInstance extends FastifyInstance {
  /** Serves only `GET /metrics`; closed with the gateway. */
  readonly metricsApp: FastifyInstance;
  readonly metrics: Registry;
}

/** The rate limit's window: RATE_LIMIT_PER_MINUTE requests per client address per minute. */
const RATE_LIMIT_WINDOW_MS = 60_000;

/** `/path?query` from a request target; the absolute form (`http://host/path`) is reduced to it. */
function originForm(url: string): string {
  if (url.startsWith('/')) return url;
  try {
    const parsed = new URL(url);
    return `${parsed.pathname}${parsed.search}`;
  } catch {
    return `/${url}`;
  }
}

/** The request's path, for its endpoint label: the absolute form reduced, the query dropped. */
function requestPath(request: FastifyRequest): string {
  return pathOnly(originForm(request.raw.url ?? '/'));
}

const endpointOf = (request: FastifyRequest): string => gatewayEndpoint(requestPath(request));

/** The gateway's own liveness answer, the services' healthy body. */
const GATEWAY_HEALTHY = Object.freeze({ message: 'healthy' });

function fixedDocs(document: object): OpenApiSource {
  return { refresh: async () => undefined, current: () => document };
}

/**
 * The platform's reverse proxy (Traefik's job in the original): routes by
 * path prefix to users, quotes, search and ops over pooled keep-alive
 * connections (@fastify/reply-from on undici), rate-limits per client address
 * (@fastify/rate-limit), keeps `/metrics` private and serves the services'
 * merged API documentation at /apidocs. Its own metrics (the HTTP series by
 * route family, upstream errors, rate limiting) are served by `metricsApp`, a
 * second app for a private port. Neither listens; `server.ts` does.
 */
export async function buildGateway(config: GatewayConfig, options: GatewayOptions = {}): Promise<GatewayInstance> {
  const metrics = createRegistry({
    service: 'gateway',
    memoryLimitBytes: config.memoryLimitBytes,
    cpuLimitCores: config.cpuLimitCores,
  });
  const upstreamErrors = new Counter({
    name: 'gateway_upstream_errors_total',
    help: 'Requests an upstream failed, by upstream and kind: unavailable (502), timeout (504), reset (cut mid-answer)',
    labelNames: ['upstream', 'kind'],
    registers: [metrics],
  });
  for (const upstream of UPSTREAM_NAMES) for (const kind of UPSTREAM_ERROR_KINDS) upstreamErrors.inc({ upstream, kind }, 0);
  const rateLimited = new Counter({
    name: 'gateway_rate_limited_total',
    help: 'Requests refused with 429 by the per-client rate limit',
    registers: [metrics],
  });

  const docs =
    options.openapi === undefined
      ? new PlatformDocs(
          UPSTREAM_NAMES.map((name) => ({ name, url: config.upstreams[name] })),
          { timeoutMs: config.upstreamTimeoutMs },
        )
      : fixedDocs(options.openapi);
  const app = await createHttpApp({
    service: 'gateway',
    config,
    logger: options.logger,
    logStream: options.logStream,
    trustProxy: config.trustProxy,
    bodyLimitBytes: config.bodyLimitBytes,
    routeOf: endpointOf,
    metrics: { registry: metrics, route: false },
    docs,
  });
  // The same private metrics listener as every service's (decorated as `metricsApp`, closed with the gateway).
  await attachMetricsApp(app, {
    service: 'gateway',
    config,
    registry: metrics,
    logger: options.logger === false ? false : app.log,
  });

  acceptBodiesWithinLimit(app, config.bodyLimitBytes);
  refuseConnect(app);

  const pools = new UpstreamPools({ connectTimeoutMs: config.upstreamTimeoutMs });
  app.addHook('onClose', async () => {
    await pools.close();
  });
  await app.register(replyFrom, {
    // reply-from takes any object with undici's `request` as its dispatcher.
    undici: pools as unknown as NonNullable<FastifyReplyFromOptions['undici']>,
    disableRequestLogging: true,
    // The relayed paths of a busy gateway are few (`/quotes/random`, ids seen often): their parsed URLs are kept.
    cacheURLs: 1_000,
  });
  const countUpstreamError = (upstream: UpstreamName, kind: string): void => upstreamErrors.labels(upstream, kind).inc();
  const relay = Object.fromEntries(
    UPSTREAM_NAMES.map((upstream) => [
      upstream,
      relayOptions({
        upstream,
        origin: new URL(config.upstreams[upstream]).origin,
        timeoutMs: config.upstreamTimeoutMs,
        trustProxy: config.trustProxy,
        onUpstreamError: countUpstreamError,
      }),
    ]),
  ) as Record<UpstreamName, FastifyReplyFromHooks>;

  const limit = config.rateLimitPerMinute;
  const timeWindow = options.rateLimitWindowMs ?? RATE_LIMIT_WINDOW_MS;
  if (limit > 0) {
    await app.register(rateLimit, {
      // Only the relaying route below is limited: neither the documentation page nor the health routes.
      global: false,
      max: limit,
      timeWindow,
      // Addresses tracked at once, least recently seen dropped first: a flood of spoofed ones costs bounded memory.
      cache: 100_000,
      onExceeded: () => rateLimited.inc(),
      errorResponseBuilder: () => appError('RATE_LIMITED'),
    });
  }

  const bodyLimit = config.bodyLimitBytes;
  // Not async: the relay answers through `reply`, and a promise per request would only cost.
  const relayRequest = (request: FastifyRequest, reply: FastifyReply): void => {
    const raw = request.raw;
    const url = raw.url ?? '/';
    if (isRewrittenTarget(url)) throw appError('VALIDATION_FAILED');
    const path = pathOnly(originForm(url));
    if (isPrivatePath(path)) throw appError('ROUTE_NOT_FOUND');
    const body = request.body as Buffer | undefined;
    if (body === undefined && Number(raw.headers['content-length']) > bodyLimit) {
      // A body Fastify does not read (GET, HEAD, TRACE) declared over the limit: refused like any other.
      reply.header('connection', 'close');
      throw appError('BODY_TOO_LARGE');
    }
    prepareRelay(request, reply);
    const options = relay[upstreamFor(path)];
    reply.from(path, body === undefined ? options : withBody(options, body, raw.headers['content-type']));
  };
  app.all('/*', limit > 0 ? { config: { rateLimit: { max: limit, timeWindow } } } : {}, relayRequest);
  // Health and readiness are relayed outside the rate limit (Traefik gives them a router of their own):
  // an operator's probes never read a 429. Only these exact paths; POST and other methods fall to `/*`.
  const probe = { config: { quietLog: true } };
  for (const path of HEALTH_PATHS) app.get(path, probe, relayRequest);
  app.get(GATEWAY_HEALTH_PATH, probe, (_request, reply) => {
    reply.send(GATEWAY_HEALTHY);
  });

  app.decorate('metrics', metrics);
  // decorate() does not widen the instance's type; the two properties now exist.
  return app as unknown as GatewayInstance;
}
