import { randomUUID } from 'node:crypto';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, { type FastifyBaseLogger, type FastifyError, type FastifyInstance, LogController } from 'fastify';
import type { ServiceConfig } from '../config/index.ts';
import { AppError, ERRORS, type ErrorCode, errorBody } from '../errors/index.ts';
import { createLogger, registerRequestLogging } from '../logging/index.ts';
import { type Registry, registerHttpMetrics, registerMetricsRoute } from '../metrics/index.ts';
import { isRedisUnavailable } from '../redis/index.ts';
import { describeIssue, isMissingField, validatorCompiler } from './validation.ts';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The contract message a route answers when a required field is absent or empty. */
    missingMessage?: string;
  }
}

export const OPENAPI_INFO = {
  title: 'Haddock — Captain Haddock quotes platform',
  version: '1.0.0',
  description:
    'Users, quotes and search services. Authenticate with `POST /users/login`, then send the token in ' +
    '`Authorization` (raw, as the original platform, or as `Bearer <token>`). Admin routes take an admin key in the same header.',
};

export const SECURITY_SCHEMES = {
  token: {
    type: 'apiKey',
    in: 'header',
    name: 'Authorization',
    description: 'A login token (raw or `Bearer <token>`), or an admin key for admin routes.',
  },
} as const;

export interface AppOptions {
  readonly config: ServiceConfig;
  /** Serve the service's own OpenAPI page at /apidocs. */
  readonly docs?: boolean;
  /** Replace the JSON logger (tests pass `false` to keep output quiet). */
  readonly logger?: boolean;
  /** Where the JSON log lines go instead of stdout (tests capture them to check redaction). */
  readonly logStream?: NodeJS.WritableStream;
  /** The app's metrics registry: HTTP series on every route, served at `GET /metrics`. */
  readonly metrics?: Registry;
}

/** Request ids accepted from clients (`X-Request-Id`); anything else is replaced by a UUID. */
export const REQUEST_ID_PATTERN = /^[\w.:-]{1,128}$/;

/** The client's X-Request-Id when sane, else a fresh UUID: decided before the request's logger is bound to it. */
export function requestIdOf(req: { headers: Record<string, string | string[] | undefined> }): string {
  const incoming = req.headers['x-request-id'];
  return typeof incoming === 'string' && REQUEST_ID_PATTERN.test(incoming) ? incoming : randomUUID();
}

/**
 * Fastify's log controller (the non-deprecated replacement for the top-level
 * `disableRequestLogging`) without its two lines per request ("incoming
 * request", "request completed"): `registerRequestLogging` writes one line
 * per request instead. Its other lines (a response stream that broke, a
 * serializer that failed) are kept.
 */
class CompletionLineController extends LogController {
  override incomingRequest(): void {}
  override requestCompleted(): void {}
  // Every 404 goes through the platform's not-found handler, answered and logged as any request.
  override routeNotFound(): void {}
}

export function quietLogController(): LogController {
  return new CompletionLineController();
}

const FASTIFY_CODE_TO_ERROR: Record<string, ErrorCode> = {
  FST_ERR_CTP_INVALID_JSON_BODY: 'INVALID_JSON',
  FST_ERR_CTP_BODY_TOO_LARGE: 'BODY_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'VALIDATION_FAILED',
};

/**
 * The Fastify instance every service starts from: JSON logs (stdout, and the
 * rotating LOG_FILE) with request ids and one completion line per request,
 * HTTP metrics and `/metrics` when given a registry, strict validation, one
 * error handler answering `{"error": …}`, JSON 404s and an OpenAPI document.
 * It never listens; the server entry does.
 */
export async function createServiceApp(options: AppOptions): Promise<FastifyInstance> {
  const { config } = options;
  const log =
    options.logger === false
      ? undefined
      : createLogger({
          service: config.serviceName,
          level: config.logLevel,
          stream: options.logStream,
          file: config.logFile,
          stdout: config.logStdout,
        });
  const app = Fastify({
    ...(log === undefined ? { logger: false } : { loggerInstance: log.logger as FastifyBaseLogger }),
    logController: quietLogController(),
    bodyLimit: config.bodyLimitBytes,
    requestIdHeader: false,
    genReqId: requestIdOf,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 200 },
    ajv: { customOptions: { strict: false } },
  });
  app.setValidatorCompiler(validatorCompiler);
  // Fastify parses text/plain by default; the API takes JSON only, so it must answer 415.
  app.removeContentTypeParser('text/plain');
  app.decorateRequest('principal', null);

  if (log !== undefined) app.addHook('onClose', async () => log.close());
  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });
  registerRequestLogging(app);
  if (options.metrics !== undefined) {
    registerHttpMetrics(app, options.metrics);
    registerMetricsRoute(app, options.metrics);
  }

  app.setErrorHandler((error: FastifyError | AppError | Error, request, reply) => {
    if (error instanceof AppError) {
      if (error.statusCode >= 500) request.log.error({ err: error, code: error.code }, 'request failed');
      if (error.code === 'REDIS_UNAVAILABLE') reply.header('retry-after', '1');
      return reply.code(error.statusCode).send(errorBody(error.message));
    }
    const fastifyError = error as FastifyError;
    if (fastifyError.validation) {
      const issue = fastifyError.validation[0] as Parameters<typeof isMissingField>[0] | undefined;
      const missing = request.routeOptions.config.missingMessage;
      const part = fastifyError.validationContext ?? 'body';
      const message =
        missing !== undefined && (issue === undefined || isMissingField(issue)) && part === 'body'
          ? missing
          : issue === undefined
            ? ERRORS.VALIDATION_FAILED.message
            : describeIssue(issue, part);
      return reply.code(400).send(errorBody(message));
    }
    if (fastifyError.code === 'FST_ERR_CTP_EMPTY_JSON_BODY') {
      const missing = request.routeOptions.config.missingMessage;
      return reply.code(400).send(errorBody(missing ?? ERRORS.INVALID_JSON.message));
    }
    const mapped = fastifyError.code ? FASTIFY_CODE_TO_ERROR[fastifyError.code] : undefined;
    if (mapped !== undefined) {
      return reply.code(ERRORS[mapped].status).send(errorBody(ERRORS[mapped].message));
    }
    if (error instanceof SyntaxError) {
      return reply.code(400).send(errorBody(ERRORS.INVALID_JSON.message));
    }
    if (isRedisUnavailable(error)) {
      request.log.error({ err: error }, 'redis unavailable');
      reply.header('retry-after', '1');
      return reply.code(503).send(errorBody(ERRORS.REDIS_UNAVAILABLE.message));
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

  if (options.docs !== false) {
    await registerDocs(app);
  }
  return app;
}

/** Registers the OpenAPI generator and the Swagger UI at /apidocs (document at /apidocs/json). */
export async function registerDocs(app: FastifyInstance): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: OPENAPI_INFO,
      components: { securitySchemes: SECURITY_SCHEMES },
    },
  });
  await app.register(swaggerUi, { routePrefix: '/apidocs', staticCSP: true });
}

/** Standard error response schema for the OpenAPI document. */
export const ERROR_SCHEMA = {
  type: 'object',
  properties: { error: { type: 'string' } },
  required: ['error'],
} as const;

/** Error responses documented on every route that can give them. */
export function errorResponses(...statuses: number[]): Record<number, typeof ERROR_SCHEMA> {
  return Object.fromEntries(statuses.map((s) => [s, ERROR_SCHEMA]));
}
