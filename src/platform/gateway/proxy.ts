import { Agent, type ClientRequest, request as httpRequest, type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ERRORS, errorBody } from '../../lib/errors/index.ts';
import type { UpstreamName } from './routing.ts';

/** One service behind the gateway, with its own pool of keep-alive connections. */
export interface Upstream {
  readonly name: UpstreamName;
  readonly hostname: string;
  readonly port: number;
  readonly agent: Agent;
}

export function createUpstream(name: UpstreamName, baseUrl: string): Upstream {
  const url = new URL(baseUrl);
  return {
    name,
    // URL keeps the brackets of an IPv6 literal; node:http wants it bare.
    hostname: url.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: url.port === '' ? 80 : Number(url.port),
    // lifo keeps the few warm sockets busy; the services' 72 s keep-alive is
    // longer than the idle timeout here, so the pool closes first.
    agent: new Agent({ keepAlive: true, scheduling: 'lifo', timeout: 30_000 }),
  };
}

/** How an upstream failed: refused or broke before answering (502), stayed silent (504), or broke mid-answer. */
export type UpstreamErrorKind = 'unavailable' | 'timeout' | 'reset';

export const UPSTREAM_ERROR_KINDS: readonly UpstreamErrorKind[] = ['unavailable', 'timeout', 'reset'];

export interface ProxyOptions {
  /** Longest the upstream socket may stay idle, in either direction. */
  readonly timeoutMs: number;
  /** Extend X-Forwarded-* from the peer instead of replacing them. */
  readonly trustProxy: boolean;
  /** The path and query to request upstream. */
  readonly target: string;
  /** Told at most once per request when the upstream fails it (not when the client leaves). */
  readonly onUpstreamError?: (kind: UpstreamErrorKind) => void;
}

/** Headers that describe one connection, not the message: never forwarded (RFC 9110 §7.6.1). */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  // The gateway's own server already answered `100 Continue`.
  'expect',
]);

/** Header names the Connection header lists are hop-by-hop too. */
function connectionTokens(value: string | string[] | undefined): Set<string> {
  const joined = Array.isArray(value) ? value.join(',') : (value ?? '');
  return new Set(
    joined
      .split(',')
      .map((token) => token.trim().toLowerCase())
      .filter((token) => token.length > 0),
  );
}

function endToEnd(headers: IncomingMessage['headers']): OutgoingHttpHeaders {
  const listed = connectionTokens(headers.connection);
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || HOP_BY_HOP.has(name) || listed.has(name)) continue;
    out[name] = value;
  }
  return out;
}

function first(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function upstreamHeaders(request: FastifyRequest, options: ProxyOptions): OutgoingHttpHeaders {
  const raw = request.raw;
  const headers = endToEnd(raw.headers);
  // The body is relayed as it arrives: keep the client's framing.
  if (raw.headers['transfer-encoding'] !== undefined && raw.headers['content-length'] === undefined) {
    headers['transfer-encoding'] = 'chunked';
  }
  const peer = raw.socket.remoteAddress ?? '';
  const priorFor = options.trustProxy ? first(raw.headers['x-forwarded-for']) : undefined;
  headers['x-forwarded-for'] = priorFor ? `${priorFor}, ${peer}` : peer;
  // Fastify reads X-Forwarded-Proto/Host only when the peer is trusted.
  headers['x-forwarded-proto'] = request.protocol;
  if (request.host) headers['x-forwarded-host'] = request.host;
  headers['x-request-id'] = request.id;
  return headers;
}

const RETRYABLE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
const TIMEOUT_CODES = new Set(['ETIMEDOUT', 'ESOCKETTIMEDOUT']);

function hasBody(raw: IncomingMessage): boolean {
  const length = raw.headers['content-length'];
  return raw.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/**
 * Relays one request to `upstream` and its answer back, both bodies streamed,
 * never buffered. Resolves once the reply is committed (or the client left).
 * A refused or broken connection before any answer gives 502, silence past
 * the timeout 504; a body-less idempotent request that met a keep-alive
 * socket the upstream had just closed is retried once on a fresh one.
 */
export function proxyRequest(
  request: FastifyRequest,
  reply: FastifyReply,
  upstream: Upstream,
  options: ProxyOptions,
): Promise<void> {
  const raw = request.raw;
  const res = reply.raw;
  const headers = upstreamHeaders(request, options);
  const withBody = hasBody(raw);
  const method = raw.method ?? 'GET';

  return new Promise<void>((resolve) => {
    let committed = false;
    let current: ClientRequest | undefined;
    let answer: IncomingMessage | undefined;
    let clientGone = false;
    let reported = false;
    const report = (kind: UpstreamErrorKind): void => {
      if (reported || clientGone) return;
      reported = true;
      options.onUpstreamError?.(kind);
    };

    const commit = (send: () => void): void => {
      if (committed) return;
      committed = true;
      send();
      resolve();
    };

    /**
     * Stops relaying the request body. Unread body would stall a keep-alive
     * connection, so it is drained; an error answer also closes the connection.
     */
    const abandonBody = (target: ClientRequest, closeAfterAnswer: boolean): void => {
      raw.unpipe(target);
      if (!raw.complete) {
        raw.resume();
        if (closeAfterAnswer) reply.header('connection', 'close');
      }
    };

    const fail = (code: 'UPSTREAM_UNAVAILABLE' | 'UPSTREAM_TIMEOUT', target: ClientRequest, err?: Error): void => {
      if (!committed) report(code === 'UPSTREAM_TIMEOUT' ? 'timeout' : 'unavailable');
      commit(() => {
        request.log.warn({ err, upstream: upstream.name, code }, 'upstream request failed');
        abandonBody(target, true);
        target.destroy();
        reply.code(ERRORS[code].status).send(errorBody(ERRORS[code].message));
      });
    };

    res.on('close', () => {
      if (res.writableFinished) return;
      // The client went away: stop the upstream exchange too.
      clientGone = true;
      current?.destroy();
      answer?.destroy();
      if (!committed) {
        committed = true;
        request.log.info({ upstream: upstream.name }, 'client closed the connection before the answer');
        resolve();
      }
    });

    const attempt = (mayRetry: boolean): void => {
      const outgoing = httpRequest({
        hostname: upstream.hostname,
        port: upstream.port,
        method,
        path: options.target,
        headers,
        agent: upstream.agent,
      });
      current = outgoing;

      outgoing.setTimeout(options.timeoutMs, () => {
        if (answer === undefined) {
          fail('UPSTREAM_TIMEOUT', outgoing);
        } else {
          // Headers went out already: all that is left is to cut the stream.
          report('timeout');
          answer.destroy(new Error(`upstream ${upstream.name} silent for ${options.timeoutMs} ms`));
          outgoing.destroy();
        }
      });

      outgoing.on('error', (err: NodeJS.ErrnoException) => {
        if (committed || answer !== undefined) {
          // After the answer started (or the client left), errors end the stream; the reply side handles it.
          request.log.debug({ err, upstream: upstream.name }, 'upstream connection ended with an error');
          if (answer !== undefined && !answer.complete) report('reset');
          abandonBody(outgoing, false);
          return;
        }
        if (mayRetry && outgoing.reusedSocket && err.code === 'ECONNRESET') {
          attempt(false);
          return;
        }
        fail(TIMEOUT_CODES.has(err.code ?? '') ? 'UPSTREAM_TIMEOUT' : 'UPSTREAM_UNAVAILABLE', outgoing, err);
      });

      outgoing.on('response', (incoming) => {
        answer = incoming;
        // The upstream died mid-answer (its socket reset): the client gets a cut stream.
        incoming.once('error', () => report('reset'));
        if (committed) {
          incoming.destroy();
          return;
        }
        commit(() => {
          reply.code(incoming.statusCode ?? 502);
          const listed = connectionTokens(incoming.headers.connection);
          for (const [name, value] of Object.entries(incoming.headers)) {
            if (value === undefined || HOP_BY_HOP.has(name) || listed.has(name)) continue;
            reply.header(name, value);
          }
          reply.header('x-request-id', request.id);
          reply.send(incoming);
        });
      });

      if (withBody) {
        raw.pipe(outgoing);
      } else {
        outgoing.end();
      }
    };

    raw.on('error', (err) => {
      request.log.debug({ err }, 'client request stream failed');
      current?.destroy();
    });

    attempt(!withBody && RETRYABLE_METHODS.has(method));
  });
}
