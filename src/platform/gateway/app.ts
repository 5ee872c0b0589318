import swagger, { type StaticDocumentSpec } from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from 'fastify';
import { AppError, appError, ERRORS, errorBody } from '../../lib/errors/index.ts';
import { quietLogController, requestIdOf } from '../../lib/http/index.ts';
import { createLogger, pathOnly, registerRequestLogging } from '../../lib/logging/index.ts';
import { Counter, createRegistry, type Registry, registerHttpMetrics, registerMetricsRoute } from '../../lib/metrics/index.ts';
import type { GatewayConfig } from './config.ts';
import { buildPlatformOpenApi } from './openapi.ts';
import { createUpstream, proxyRequest, UPSTREAM_ERROR_KINDS, type Upstream } from './proxy.ts';
import { FixedWindowLimiter } from './rate-limit.ts';
import { gatewayEndpoint, isPrivatePath, type UpstreamName, upstreamFor } from './routing.ts';

export interface GatewayOptions {
  /** false silences the JSON logger (tests). */
  readonly logger?: boolean;
  /** Where the JSON log lines go instead of stdout (tests capture them). */
  readonly logStream?: NodeJS.WritableStream;
  /** The merged OpenAPI document to serve; built from the services' apps when omitted. */
  readonly openapi?: object;
}

/** The gateway, and its separate metrics app: listen on it at GATEWAY_METRICS_HOST:GATEWAY_METRICS_PORT, never publicly. */
export interface GatewayInstance extends FastifyInstance {
  /** Serves only `GET /metrics`; closed with the gateway. */
  readonly metricsApp: FastifyInstance;
  readonly metrics: Registry;
}

const UPSTREAM_NAMES: readonly UpstreamName[] = ['users', 'quotes', 'search', 'ops'];

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

/**
 * The platform's reverse proxy (Traefik's job in the original): routes by
 * path prefix to users, quotes and search, rate-limits per client IP, keeps
 * `/metrics` private and serves the merged API documentation at /apidocs.
 * Its own metrics (the HTTP series by route family, upstream errors, rate
 * limiting) are served by `metricsApp`, a second app for a private port.
 * Neither listens; `server.ts` does.
 */
export async function buildGateway(config: GatewayConfig, options: GatewayOptions = {}): Promise<GatewayInstance> {
  const openapi = options.openapi ?? (await buildPlatformOpenApi());
  const log =
    options.logger === false
      ? undefined
      : createLogger({
          service: 'gateway',
          level: config.logLevel,
          stream: options.logStream,
          file: config.logFile,
          stdout: config.logStdout,
        });
  const app = Fastify({
    ...(log === undefined ? { logger: false } : { loggerInstance: log.logger as FastifyBaseLogger }),
    logController: quietLogController(),
    trustProxy: config.trustProxy,
    // A sane client id is kept end to end; anything else is replaced.
    genReqId: requestIdOf,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    // A URL the router cannot decode gets the platform's JSON error, not Fastify's.
    frameworkErrors: (_error, _request, reply) => {
      (reply as FastifyReply).code(400).send(errorBody(ERRORS.VALIDATION_FAILED.message));
    },
  });

  const upstreams: Record<UpstreamName, Upstream> = {
    users: createUpstream('users', config.upstreams.users),
    quotes: createUpstream('quotes', config.upstreams.quotes),
    search: createUpstream('search', config.upstreams.search),
    ops: createUpstream('ops', config.upstreams.ops),
  };
  const limiter = config.rateLimitPerMinute > 0 ? new FixedWindowLimiter({ limit: config.rateLimitPerMinute }) : undefined;

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
  const metricsApp = Fastify({ logger: false, return503OnClosing: true, forceCloseConnections: true });
  registerMetricsRoute(metricsApp, metrics);
  metricsApp.setNotFoundHandler((_request, reply) => {
    reply.code(404).send(errorBody(ERRORS.ROUTE_NOT_FOUND.message));
  });

  app.addHook('onClose', async () => {
    limiter?.close();
    for (const upstream of Object.values(upstreams)) upstream.agent.destroy();
    await metricsApp.close();
    log?.close();
  });

  // Bodies are relayed untouched: the services parse and limit them.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_request, _payload, done) => done(null));

  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });
  const endpointOf = (request: FastifyRequest) => gatewayEndpoint(requestPath(request));
  registerRequestLogging(app, endpointOf);
  registerHttpMetrics(app, metrics, endpointOf);

  app.setErrorHandler((error: FastifyError | AppError | Error, request, reply) => {
    if (error instanceof AppError) {
      return reply.code(error.statusCode).send(errorBody(error.message));
    }
    const fastifyError = error as FastifyError;
    if (fastifyError.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
      return reply.code(415).send(errorBody(ERRORS.UNSUPPORTED_MEDIA_TYPE.message));
    }
    if (typeof fastifyError.statusCode === 'number' && fastifyError.statusCode >= 400 && fastifyError.statusCode < 500) {
      return reply.code(fastifyError.statusCode).send(errorBody(ERRORS.VALIDATION_FAILED.message));
    }
    request.log.error({ err: error }, 'unhandled error');
    return reply.code(500).send(errorBody(ERRORS.INTERNAL.message));
  });
  app.setNotFoundHandler((_request, reply) => {
    reply.code(404).send(errorBody(ERRORS.ROUTE_NOT_FOUND.message));
  });

  await app.register(swagger, {
    mode: 'static',
    specification: { document: openapi as StaticDocumentSpec['document'] },
  });
  await app.register(swaggerUi, { routePrefix: '/apidocs', staticCSP: true });

  const rateLimit = async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    if (limiter === undefined) return;
    const decision = limiter.hit(request.ip);
    reply.header('x-ratelimit-limit', decision.limit);
    reply.header('x-ratelimit-remaining', decision.remaining);
    reply.header('x-ratelimit-reset', decision.resetSeconds);
    if (!decision.allowed) {
      rateLimited.inc();
      reply.header('retry-after', decision.resetSeconds);
      throw appError('RATE_LIMITED');
    }
  };

  const proxyOptions = { timeoutMs: config.upstreamTimeoutMs, trustProxy: config.trustProxy };
  app.all('/*', { onRequest: rateLimit }, async (request, reply) => {
    const target = originForm(request.raw.url ?? '/');
    const path = pathOnly(target);
    if (isPrivatePath(path)) throw appError('ROUTE_NOT_FOUND');
    const upstream = upstreams[upstreamFor(path)];
    await proxyRequest(request, reply, upstream, {
      ...proxyOptions,
      target,
      onUpstreamError: (kind) => upstreamErrors.inc({ upstream: upstream.name, kind }),
    });
    return reply;
  });

  app.decorate('metricsApp', metricsApp);
  app.decorate('metrics', metrics);
  // decorate() does not widen the instance's type; the two properties now exist.
  return app as unknown as GatewayInstance;
}
