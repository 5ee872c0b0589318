import { randomUUID } from 'node:crypto';
import swagger, { type StaticDocumentSpec } from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { AppError, appError, ERRORS, errorBody } from '../../lib/errors/index.ts';
import { loggerOptions } from '../../lib/logging/index.ts';
import type { GatewayConfig } from './config.ts';
import { buildPlatformOpenApi } from './openapi.ts';
import { createUpstream, proxyRequest, type Upstream } from './proxy.ts';
import { FixedWindowLimiter } from './rate-limit.ts';
import { isPrivatePath, type UpstreamName, upstreamFor } from './routing.ts';

export interface GatewayOptions {
  /** false silences the JSON logger (tests). */
  readonly logger?: boolean;
  /** The merged OpenAPI document to serve; built from the services' apps when omitted. */
  readonly openapi?: object;
}

const REQUEST_ID = /^[\w.:-]{1,128}$/;

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

/**
 * The platform's reverse proxy (Traefik's job in the original): routes by
 * path prefix to users, quotes and search, rate-limits per client IP, keeps
 * `/metrics` private and serves the merged API documentation at /apidocs.
 * It never listens; `server.ts` does.
 */
export async function buildGateway(config: GatewayConfig, options: GatewayOptions = {}): Promise<FastifyInstance> {
  const openapi = options.openapi ?? (await buildPlatformOpenApi());
  const app = Fastify({
    logger: options.logger === false ? false : loggerOptions('gateway', config.logLevel),
    trustProxy: config.trustProxy,
    // A sane client id is kept end to end; anything else is replaced.
    genReqId: (req) => {
      const incoming = req.headers['x-request-id'];
      return typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID();
    },
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
  };
  const limiter = config.rateLimitPerMinute > 0 ? new FixedWindowLimiter({ limit: config.rateLimitPerMinute }) : undefined;
  app.addHook('onClose', async () => {
    limiter?.close();
    for (const upstream of Object.values(upstreams)) upstream.agent.destroy();
  });

  // Bodies are relayed untouched: the services parse and limit them.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_request, _payload, done) => done(null));

  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });

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
      reply.header('retry-after', decision.resetSeconds);
      throw appError('RATE_LIMITED');
    }
  };

  const proxyOptions = { timeoutMs: config.upstreamTimeoutMs, trustProxy: config.trustProxy };
  app.all('/*', { onRequest: rateLimit }, async (request, reply) => {
    const target = originForm(request.raw.url ?? '/');
    const query = target.indexOf('?');
    const path = query === -1 ? target : target.slice(0, query);
    if (isPrivatePath(path)) throw appError('ROUTE_NOT_FOUND');
    await proxyRequest(request, reply, upstreams[upstreamFor(path)], { ...proxyOptions, target });
    return reply;
  });

  return app;
}
