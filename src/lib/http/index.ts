import { randomUUID } from 'node:crypto';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import type { ServiceConfig } from '../config/index.ts';
import { AppError, ERRORS, type ErrorCode, errorBody } from '../errors/index.ts';
import { loggerOptions } from '../logging/index.ts';
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
}

const FASTIFY_CODE_TO_ERROR: Record<string, ErrorCode> = {
  FST_ERR_CTP_INVALID_JSON_BODY: 'INVALID_JSON',
  FST_ERR_CTP_BODY_TOO_LARGE: 'BODY_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'VALIDATION_FAILED',
};

/**
 * The Fastify instance every service starts from: JSON logs with request ids,
 * strict validation, one error handler answering `{"error": …}`, JSON 404s and
 * an OpenAPI document. It never listens; the server entry does.
 */
export async function createServiceApp(options: AppOptions): Promise<FastifyInstance> {
  const { config } = options;
  const app = Fastify({
    logger:
      options.logger === false
        ? false
        : { ...loggerOptions(config.serviceName, config.logLevel), ...(options.logStream ? { stream: options.logStream } : {}) },
    bodyLimit: config.bodyLimitBytes,
    requestIdHeader: 'x-request-id',
    genReqId: () => randomUUID(),
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 200 },
    ajv: { customOptions: { strict: false } },
  });
  app.setValidatorCompiler(validatorCompiler);
  // Fastify parses text/plain by default; the API takes JSON only, so it must answer 415.
  app.removeContentTypeParser('text/plain');
  app.decorateRequest('principal', null);

  app.addHook('onRequest', async (request, reply) => {
    // Request ids from clients are echoed back only when they are sane.
    const incoming = request.headers['x-request-id'];
    if (typeof incoming === 'string' && !/^[\w.:-]{1,128}$/.test(incoming)) request.id = randomUUID();
    reply.header('x-request-id', request.id);
  });

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
