import { randomUUID } from 'node:crypto';
import { type IncomingMessage, type ServerResponse, STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import swagger, { type StaticDocumentSpec } from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  LogController,
} from 'fastify';
import type { HttpConfig, LogConfig } from '../config/index.ts';
import { AppError, appError, ERRORS, type ErrorCode, errorBody } from '../errors/index.ts';
import { createLogger, type RouteOf, requestLogLines } from '../logging/index.ts';
import { httpMetrics, type Registry, registerMetricsRoute } from '../metrics/index.ts';
import { isRedisFull, isRedisUnavailable } from '../redis/index.ts';
import { type RequestCompletion, trackCompletion } from './completion.ts';
import { parseJsonBody } from './json-body.ts';
import { requestLoggerFactory } from './request-logger.ts';
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
 * request", "request completed"): `requestLogLines` writes one line
 * per request instead. Its other lines (a response stream that broke, a
 * serializer that failed) are kept.
 */
class CompletionLineController extends LogController {
  override incomingRequest(): void {}
  override requestCompleted(): void {}
  // Every 404 goes through the platform's not-found handler, answered and logged as any request.
  override routeNotFound(): void {}
}

/** The log controller every app uses: Fastify's per-request lines off, `requestLogLines` writes one instead. */
export function quietLogController(): LogController {
  return new CompletionLineController();
}

/** A document assembled elsewhere (the gateway's merged page), served at /apidocs. */
export interface OpenApiSource {
  /** Brings the document up to date; awaited before each documentation request, so it must not throw. */
  refresh(log: FastifyBaseLogger): Promise<void>;
  /** The document to serve now. */
  current(): object;
}

/** What an app does with a metrics registry. */
export interface HttpAppMetrics {
  readonly registry: Registry;
  /** Record the HTTP series of this app's requests in it (default true). */
  readonly http?: boolean;
  /** Serve it at `GET /metrics` on this app (default true). */
  readonly route?: boolean;
}

export interface HttpAppOptions {
  /** The process's name, in every log line (`service`). */
  readonly service: string;
  /** Logging and HTTP settings: the entry point's configuration (`readLogConfig`, `readHttpConfig`). */
  readonly config: LogConfig & HttpConfig;
  /**
   * The JSON logger made from `config` (default), none (`false`, tests), or another app's logger to share
   * (a second listener of the same process, writing to the same file; its owner closes it).
   */
  readonly logger?: boolean | FastifyBaseLogger;
  /** Where the JSON log lines go instead of stdout (tests capture them). */
  readonly logStream?: NodeJS.WritableStream;
  /** Largest request body parsed, in bytes (413 beyond). Default Fastify's 1 MiB. */
  readonly bodyLimitBytes?: number;
  /** Believe X-Forwarded-* from the peer (only behind another trusted proxy). Default false. */
  readonly trustProxy?: boolean;
  /** Names a request in its log line (`route`) and its metrics (`endpoint`). Default: the route template. */
  readonly routeOf?: RouteOf;
  /** The app's metrics registry: its HTTP series and, by default, `GET /metrics`. */
  readonly metrics?: HttpAppMetrics;
  /**
   * The OpenAPI page at /apidocs (the document at /apidocs/json): generated from the app's own route
   * schemas (`true`, the default), served from a source, or none (`false`).
   */
  readonly docs?: boolean | OpenApiSource;
  /**
   * false: neither the HTTP metrics hooks nor the per-request log line (the bench measures their cost).
   * Default `config.httpInstrumentation`.
   */
  readonly instrumentation?: boolean;
}

/**
 * Fastify's own error codes the catalogue has an answer for. Those that also depend on the route (a
 * validation failure, an empty JSON body) are handled in `answerError` itself.
 */
const FASTIFY_CODE_TO_ERROR: Readonly<Record<string, ErrorCode>> = {
  FST_ERR_CTP_INVALID_JSON_BODY: 'INVALID_JSON',
  FST_ERR_CTP_BODY_TOO_LARGE: 'BODY_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'VALIDATION_FAILED',
  FST_ERR_MAX_PARAM_LENGTH: 'URL_TOO_LONG',
};

/** Seconds a client waits before retrying a write Redis refused for memory: freeing it takes an operator, not a reconnection. */
const REDIS_FULL_RETRY_AFTER = '30';

function send(reply: FastifyReply, code: ErrorCode): FastifyReply {
  return reply.code(ERRORS[code].status).send(errorBody(ERRORS[code].message));
}

/**
 * The one error handler: every error becomes `{"error": …}` with a status and
 * message from the catalogue. An `AppError` answers its own; a schema failure
 * names the field (or gives the route's contract message for a missing one);
 * Fastify's parsing errors map through `FASTIFY_CODE_TO_ERROR`; Redis being
 * down or full (a write refused at maxmemory) is a 503 with Retry-After;
 * anything else is logged and answered 500 without internals.
 */
function answerError(error: FastifyError | AppError | Error, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  if (error instanceof AppError) {
    if (error.statusCode >= 500) request.log.error({ err: error, code: error.code }, 'request failed');
    if (error.code === 'REDIS_UNAVAILABLE') reply.header('retry-after', '1');
    if (error.code === 'REDIS_FULL') reply.header('retry-after', REDIS_FULL_RETRY_AFTER);
    return reply.code(error.statusCode).send(errorBody(error.message));
  }
  const fastifyError = error as FastifyError;
  if (fastifyError.validation) {
    const issue = fastifyError.validation[0] as Parameters<typeof isMissingField>[0] | undefined;
    const missing = request.routeOptions.config?.missingMessage;
    const part = fastifyError.validationContext ?? 'body';
    const message =
      missing !== undefined && (issue === undefined || isMissingField(issue)) && part === 'body'
        ? missing
        : issue === undefined
          ? ERRORS.VALIDATION_FAILED.message
          : describeIssue(issue, part);
    return reply.code(400).send(errorBody(message));
  }
  const mapped = fastifyError.code ? FASTIFY_CODE_TO_ERROR[fastifyError.code] : undefined;
  if (mapped !== undefined) return send(reply, mapped);
  if (error instanceof SyntaxError) return send(reply, 'INVALID_JSON');
  // A percent-escape that does not decode (`/quotes/%E0%A4%A`): the client's mistake, wherever it is noticed.
  if (error instanceof URIError) return send(reply, 'VALIDATION_FAILED');
  // Redis at maxmemory refuses writes (OOM, or EXECABORT caused by one); reads still work, so only this request fails.
  if (isRedisFull(error)) {
    request.log.error({ err: error }, 'redis full: write refused');
    reply.header('retry-after', REDIS_FULL_RETRY_AFTER);
    return send(reply, 'REDIS_FULL');
  }
  if (isRedisUnavailable(error)) {
    request.log.error({ err: error }, 'redis unavailable');
    reply.header('retry-after', '1');
    return send(reply, 'REDIS_UNAVAILABLE');
  }
  if (typeof fastifyError.statusCode === 'number' && fastifyError.statusCode >= 400 && fastifyError.statusCode < 500) {
    return reply.code(fastifyError.statusCode).send(errorBody(ERRORS.VALIDATION_FAILED.message));
  }
  request.log.error({ err: error }, 'unhandled error');
  return send(reply, 'INTERNAL');
}

/**
 * What Node's HTTP parser refuses before Fastify sees a request (headers or a
 * request too slow to arrive, headers too large, a malformed request line)
 * gets the catalogue's JSON body too, and the connection is closed.
 */
function answerClientError(this: FastifyInstance, err: NodeJS.ErrnoException, socket: Socket): void {
  // The peer is gone: nothing to answer.
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const code: ErrorCode =
    err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? 'REQUEST_TIMEOUT'
      : err.code === 'HPE_HEADER_OVERFLOW'
        ? requestLineTooLong(err)
          ? 'URL_TOO_LONG'
          : 'HEADERS_TOO_LARGE'
        : 'VALIDATION_FAILED';
  this.log.debug({ err, code }, 'client error');
  const { status, message } = ERRORS[code];
  const body = JSON.stringify(errorBody(message));
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy(err);
}

const REQUEST_LINE_START = /^[A-Z]{1,20} \S/;
/** RFC 9112 asks servers to take request lines of at least 8,000 octets: one longer is the URL's fault. */
const LONG_REQUEST_LINE = 8_192;

/**
 * Node's parser counts the request line in its header-size limit: a header overflow in a packet that starts
 * with a request line (`GET /…`) longer than 8 KiB, or unfinished, is a URL too long (414), not headers (431).
 * When the URL spans several packets and the overflow lands on a later one, the answer stays 431.
 */
function requestLineTooLong(err: NodeJS.ErrnoException): boolean {
  const packet = (err as { rawPacket?: unknown }).rawPacket;
  if (!Buffer.isBuffer(packet) || !REQUEST_LINE_START.test(packet.subarray(0, 32).toString('latin1'))) return false;
  const end = packet.indexOf(0x0a);
  return end === -1 || end > LONG_REQUEST_LINE;
}

const CHARSET = /;\s*charset\s*=\s*"?([^";\s]*)/i;

/** True when the Content-Type names a charset other than UTF-8, the only one JSON is exchanged in (RFC 8259). */
function declaresOtherCharset(contentType: string | undefined): boolean {
  // `application/json` is 16 characters: anything longer carries parameters.
  if (contentType === undefined || contentType.length <= 16) return false;
  const charset = CHARSET.exec(contentType)?.[1];
  return charset !== undefined && !/^utf-?8$/i.test(charset);
}

/**
 * The JSON body parser of every app that parses bodies (Fastify's default replaced): the body is read as bytes
 * and decoded once, refusing invalid UTF-8 and lone surrogates (`parseJsonBody`); an empty body is no body, so
 * a route that takes none (`DELETE /quotes/:id`, `POST /users/logout`) ignores it and a route that needs one
 * answers its missing-body message; a charset other than UTF-8 is a 415.
 */
function parseJson(request: FastifyRequest, body: Buffer, done: (err: Error | null, body?: unknown) => void): void {
  if (declaresOtherCharset(request.headers['content-type'])) {
    done(appError('UNSUPPORTED_MEDIA_TYPE'));
    return;
  }
  if (body.length === 0) {
    done(null, undefined);
    return;
  }
  try {
    done(null, parseJsonBody(body));
  } catch (err) {
    done(err as Error);
  }
}

/**
 * Node answers an `Expect` other than `100-continue` with a bare 417 unless the server listens for
 * 'checkExpectation': this answer is the catalogue's JSON, and the connection is closed (the body, if any,
 * was never read).
 */
function answerExpectation(request: IncomingMessage, response: ServerResponse): void {
  const { status, message } = ERRORS.EXPECTATION_FAILED;
  const body = JSON.stringify(errorBody(message));
  response.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'x-request-id': requestIdOf(request),
    connection: 'close',
  });
  response.end(body);
}

/** Fastify's own body limit, when an app sets none. */
const DEFAULT_BODY_LIMIT = 1_048_576;

/**
 * Node answers `100 Continue` to every `Expect: 100-continue` unless the server listens for it: here a declared
 * length within the body limit is invited, one beyond is not, and Fastify's body reader answers it 413 at once
 * (before a byte of the body is read) and the connection is closed.
 */
function inviteBodiesWithinLimit(server: FastifyInstance['server'], limitBytes: number): void {
  server.on('checkContinue', (request: IncomingMessage, response: ServerResponse) => {
    if (!(Number(request.headers['content-length']) > limitBytes)) response.writeContinue();
    server.emit('request', request, response);
  });
}

/**
 * Builds every HTTP listener of the platform (the services, the gateway and
 * its metrics listener, the alert sink) the same way: a pino JSON logger
 * (stdout and the rotating LOG_FILE) with one completion line per request,
 * request ids (a sane `X-Request-Id` kept, else a UUID, echoed back), the one
 * error handler answering `{"error": …}` from the catalogue, JSON 404s, body
 * limits, HTTP_*_TIMEOUT_MS timeouts, HTTP metrics and `/metrics` when given a
 * registry, and the OpenAPI page. It never listens; the server entry does.
 */
export async function createHttpApp(options: HttpAppOptions): Promise<FastifyInstance> {
  const { config } = options;
  const shared = typeof options.logger === 'object' ? options.logger : undefined;
  const owned =
    options.logger === false || shared !== undefined
      ? undefined
      : createLogger({
          service: options.service,
          level: config.logLevel,
          stream: options.logStream,
          file: config.logFile,
          stdout: config.logStdout,
        });
  const logger = shared ?? (owned?.logger as FastifyBaseLogger | undefined);
  const app = Fastify({
    ...(logger === undefined ? { logger: false } : { loggerInstance: logger, childLoggerFactory: requestLoggerFactory }),
    logController: quietLogController(),
    ...(options.bodyLimitBytes === undefined ? {} : { bodyLimit: options.bodyLimitBytes }),
    trustProxy: options.trustProxy ?? false,
    requestIdHeader: false,
    genReqId: requestIdOf,
    // Fastify's own 503 during a close has its default body: the onRequest hook below answers it instead.
    return503OnClosing: false,
    forceCloseConnections: 'idle',
    requestTimeout: config.httpRequestTimeoutMs,
    keepAliveTimeout: config.httpKeepAliveTimeoutMs,
    http: {
      headersTimeout: config.httpHeadersTimeoutMs,
      requestTimeout: config.httpRequestTimeoutMs,
      // Node checks those two timeouts every 30 s by default, so a 10 s limit could hold a slow
      // client for 40 s; checking each second (the default) keeps them close to what is configured.
      connectionsCheckingInterval: config.httpConnectionsCheckIntervalMs,
      // Node answers an HTTP/1.1 request without Host with a bare 400; the onRequest hook answers it as JSON.
      requireHostHeader: false,
    },
    clientErrorHandler: answerClientError,
    // A URL the router cannot decode, or a path parameter too long, gets the catalogue's JSON as well.
    frameworkErrors: (error, _request, reply) => {
      send(reply as FastifyReply, error.code === 'FST_ERR_MAX_PARAM_LENGTH' ? 'URL_TOO_LONG' : 'VALIDATION_FAILED');
    },
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 200 },
    ajv: { customOptions: { strict: false } },
  });
  app.setValidatorCompiler(validatorCompiler);
  // Fastify parses text/plain by default; the API takes JSON only, so it must answer 415. (An app that takes
  // other bodies, the gateway, replaces the parsers after this.)
  app.removeContentTypeParser(['text/plain', 'application/json']);
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, parseJson);
  app.server.on('checkExpectation', answerExpectation);
  inviteBodiesWithinLimit(app.server, app.initialConfig.bodyLimit ?? DEFAULT_BODY_LIMIT);

  closeUnusedConnectionsOnClose(app);
  if (owned !== undefined) app.addHook('onClose', async () => owned.close());
  let closing = false;
  app.addHook('preClose', (done) => {
    closing = true;
    done();
  });
  app.addHook('onRequest', (request, reply, done) => {
    reply.header('x-request-id', request.id);
    if (closing) {
      // A request arriving on a kept-alive connection while the app drains: try another instance.
      reply.header('connection', 'close').header('retry-after', '1');
      send(reply, 'SHUTTING_DOWN');
      return;
    }
    const raw = request.raw;
    if (raw.headers.host === undefined && raw.httpVersionMajor === 1 && raw.httpVersionMinor === 1) {
      // RFC 9112: an HTTP/1.1 request without Host is a 400.
      send(reply, 'VALIDATION_FAILED');
      return;
    }
    done();
  });
  if (options.instrumentation ?? config.httpInstrumentation) {
    const parts: RequestCompletion[] = [requestLogLines(options.routeOf)];
    if (options.metrics !== undefined && options.metrics.http !== false) {
      parts.push(httpMetrics(options.metrics.registry, options.routeOf));
    }
    trackCompletion(app, parts);
  }
  if (options.metrics !== undefined && options.metrics.route !== false) registerMetricsRoute(app, options.metrics.registry);

  app.setErrorHandler(answerError);
  app.setNotFoundHandler((_request, reply) => {
    send(reply, 'ROUTE_NOT_FOUND');
  });

  const docs = options.docs ?? true;
  if (docs === true) await registerOwnDocs(app);
  else if (docs !== false) await registerSourcedDocs(app, docs);
  return app;
}

/**
 * On close, Node ends the idle keep-alive connections but waits for a
 * connection on which no request ever started (clients such as browsers and
 * undici open spare ones), so a graceful stop would last until the client
 * drops it. Nothing is in flight on such a connection: it is closed too.
 */
function closeUnusedConnectionsOnClose(app: FastifyInstance): void {
  const open = new Set<Socket>();
  app.server.on('connection', (socket: Socket) => {
    open.add(socket);
    socket.once('close', () => open.delete(socket));
  });
  app.addHook('preClose', (done) => {
    for (const socket of open) if (socket.bytesRead === 0) socket.destroy();
    done();
  });
}

const DOCS_PREFIX = '/apidocs';

/** The OpenAPI document generated from the app's route schemas, and the Swagger UI, at /apidocs. */
async function registerOwnDocs(app: FastifyInstance): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: OPENAPI_INFO,
      components: { securitySchemes: SECURITY_SCHEMES },
    },
  });
  await app.register(swaggerUi, { routePrefix: DOCS_PREFIX, staticCSP: true });
}

/** The Swagger UI at /apidocs over `source`'s document, brought up to date before each documentation request. */
async function registerSourcedDocs(app: FastifyInstance, source: OpenApiSource): Promise<void> {
  await app.register(swagger, {
    mode: 'static',
    specification: { document: source.current() as StaticDocumentSpec['document'] },
  });
  await app.register(swaggerUi, {
    routePrefix: DOCS_PREFIX,
    staticCSP: true,
    uiHooks: {
      preHandler: async (request) => {
        await source.refresh(request.log);
      },
    },
    // The registered document is only the first one: each answer serves the source's current one.
    transformSpecification: () => source.current() as Record<string, unknown>,
    transformSpecificationClone: false,
  });
}
