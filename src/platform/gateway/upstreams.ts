import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import type { FastifyReplyFromHooks } from '@fastify/reply-from';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Agent, type Dispatcher, errors } from 'undici';
import { ERRORS, errorBody } from '../../lib/errors/index.ts';
import type { UpstreamName } from './routing.ts';

/** The services behind the gateway, in the order their routes appear on the documentation page. */
export const UPSTREAM_NAMES: readonly UpstreamName[] = ['users', 'quotes', 'search', 'ops'];

/** How an upstream failed: refused or broke before answering (502), stayed silent (504), or broke mid-answer. */
export type UpstreamErrorKind = 'unavailable' | 'timeout' | 'reset';

export const UPSTREAM_ERROR_KINDS: readonly UpstreamErrorKind[] = ['unavailable', 'timeout', 'reset'];

/**
 * The client request an upstream request is made for. reply-from gives its
 * dispatcher a copy of the header object (`Object.assign`, which copies
 * symbol keys), so this key carries the client request through to
 * `UpstreamPools.request`, which takes it out before undici sees the headers.
 */
const CLIENT = Symbol('haddock.gateway.client');

type RelayHeaders = IncomingHttpHeaders & { [CLIENT]?: IncomingMessage };

/**
 * Emitted on the client's request when its connection closes before the
 * answer was sent: undici takes any EventEmitter with an `abort` event as a
 * request's signal, and the client request is already there, so no
 * AbortController is made per request.
 */
const CLIENT_GONE = 'abort';

/** Shared close listener of every relayed response (`this` is the response): no closure per request. */
function abandonIfUnanswered(this: FastifyReply['raw']): void {
  if (!this.writableFinished) this.req.emit(CLIENT_GONE);
}

export interface PoolOptions {
  /** Longest connecting to an upstream may take. */
  readonly connectTimeoutMs: number;
  /** Most connections to one upstream; requests beyond wait for one. */
  readonly connections?: number;
}

/**
 * Answers up to this size (by their Content-Length) are read whole before
 * they are relayed: one write to the client instead of a stream piped chunk
 * by chunk, and an upstream that breaks off such an answer still gets the
 * client a clean 502 instead of a cut body. Larger answers, and those of
 * unknown length, are streamed.
 */
const WHOLE_ANSWER_BYTES = 64 * 1024;

/** A small answer read whole by `RelayHandler`, handed to `relayOptions`' onResponse in place of a stream. */
export class WholeAnswer {
  constructor(readonly bytes: Buffer) {}
}

/** Set on an error that broke an answer off after its headers had arrived (a reset, not a refusal). */
const MID_ANSWER = Symbol('haddock.gateway.midAnswer');

/** True when the upstream failed after its answer had begun. */
export function brokeMidAnswer(err: unknown): boolean {
  return (err as { [MID_ANSWER]?: boolean } | null)?.[MID_ANSWER] === true;
}

type Answer = { statusCode: number; headers: IncomingHttpHeaders; body: WholeAnswer | Readable };
type AnswerCallback = (err: Error | null, data?: Answer) => void;

/** Header names of an answer, as Node names them: lower case, repeated ones as a list (Set-Cookie kept whole). */
function headerObject(raw: Buffer[]): IncomingHttpHeaders {
  const headers: Record<string, string | string[]> = {};
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = (raw[i] as Buffer).toString('latin1').toLowerCase();
    const value = (raw[i + 1] as Buffer).toString('latin1');
    const seen = headers[name];
    if (seen === undefined) headers[name] = value;
    else if (Array.isArray(seen)) seen.push(value);
    else headers[name] = [seen, value];
  }
  return headers as IncomingHttpHeaders;
}

/**
 * One upstream exchange on undici's dispatch API. undici's `request` wraps
 * every answer in a body stream inside an async resource; most answers here
 * are a few hundred bytes, so a small answer (by its Content-Length) is
 * collected and handed over whole, and only a large or unsized one becomes a
 * stream, read as the client takes it (undici's back-pressure). The client
 * leaving aborts the exchange.
 */
class RelayHandler {
  readonly #callback: AnswerCallback;
  readonly #client: IncomingMessage | undefined;
  #abort: ((err: Error) => void) | undefined;
  #status = 0;
  #headers: IncomingHttpHeaders | undefined;
  #chunks: Buffer[] | undefined;
  #stream: Readable | undefined;
  #answered = false;
  #clientLeft = false;

  constructor(callback: AnswerCallback, client: IncomingMessage | undefined) {
    this.#callback = callback;
    this.#client = client;
  }

  readonly #clientGone = (): void => {
    this.#clientLeft = true;
    this.#abort?.(new errors.RequestAbortedError());
  };

  onConnect(abort: (err: Error) => void): void {
    this.#abort = abort;
    this.#client?.once(CLIENT_GONE, this.#clientGone);
  }

  onHeaders(statusCode: number, raw: Buffer[], resume: () => void): boolean {
    // 1xx: informational, the answer is still to come.
    if (statusCode < 200) return true;
    this.#status = statusCode;
    const headers = headerObject(raw);
    this.#headers = headers;
    const length = headers['content-length'];
    if (length !== undefined && Number(length) <= WHOLE_ANSWER_BYTES) {
      this.#chunks = [];
      return true;
    }
    const stream = new Readable({ read: () => resume() });
    this.#stream = stream;
    this.#answer({ statusCode, headers, body: stream });
    return true;
  }

  onData(chunk: Buffer): boolean {
    if (this.#chunks !== undefined) {
      this.#chunks.push(chunk);
      return true;
    }
    return this.#stream?.push(chunk) ?? true;
  }

  onComplete(): void {
    this.#release();
    if (this.#chunks !== undefined) {
      const chunks = this.#chunks;
      const bytes = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
      this.#answer({ statusCode: this.#status, headers: this.#headers ?? {}, body: new WholeAnswer(bytes) });
    } else {
      this.#stream?.push(null);
    }
  }

  onError(err: Error): void {
    this.#release();
    if (this.#answered) {
      this.#stream?.destroy(err);
      return;
    }
    if (this.#clientLeft) {
      // Nobody is left to answer, and nothing failed upstream: the exchange ends here, without the
      // warning (and stack) reply-from would log for an error. The metrics record the 499.
      this.#answered = true;
      return;
    }
    if (this.#headers !== undefined) (err as Error & { [MID_ANSWER]?: boolean })[MID_ANSWER] = true;
    this.#answered = true;
    this.#callback(err);
  }

  #answer(answer: Answer): void {
    if (this.#answered) return;
    this.#answered = true;
    this.#callback(null, answer);
  }

  #release(): void {
    this.#client?.removeListener(CLIENT_GONE, this.#clientGone);
  }
}

/**
 * undici connection pools, one per upstream origin, kept alive and reused
 * (one request at a time per connection: pipelining would let one slow
 * answer hold back the next). reply-from sends every request through
 * `request` (its dispatcher interface), answered here by a `RelayHandler` on
 * undici's dispatch API: a client who leaves cancels its upstream request too.
 */
export class UpstreamPools {
  readonly #agent: Agent;

  constructor(options: PoolOptions) {
    this.#agent = new Agent({
      connections: options.connections ?? 128,
      pipelining: 1,
      // Idle connections close after 30 s, or sooner when an upstream's Keep-Alive header says so (the
      // services keep theirs 72 s by default): the pool, not the service, closes an idle connection,
      // so a request never lands on a socket the service is closing.
      keepAliveTimeout: 30_000,
      keepAliveMaxTimeout: 30_000,
      connect: { timeout: options.connectTimeoutMs },
    });
  }

  /** What reply-from calls for each upstream request (undici's callback form of `request`). */
  request(options: Dispatcher.DispatchOptions, callback: AnswerCallback): void {
    const headers = options.headers as RelayHeaders;
    const client = headers[CLIENT];
    if (client !== undefined) delete headers[CLIENT];
    this.#agent.dispatch(options, new RelayHandler(callback, client) as unknown as Dispatcher.DispatchHandler);
  }

  close(): Promise<void> {
    return this.#agent.destroy();
  }
}

/** Headers that describe one connection, not the message: never forwarded (RFC 9110 §7.6.1). */
const HOP_BY_HOP = ['keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'upgrade'];

function dropHopByHop(headers: IncomingHttpHeaders): void {
  for (const name of HOP_BY_HOP) if (headers[name] !== undefined) delete headers[name];
}

function first(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/**
 * What the gateway sends upstream: the client's headers (reply-from has
 * already dropped Connection and the headers it names, and drops
 * Transfer-Encoding: the body goes with its Content-Length), without the
 * other hop-by-hop ones and `Expect` (the gateway has read the body), with
 * no Content-Type where the client sent none, with the client's Host, the
 * X-Forwarded-* set (extended from the peer's only when it is trusted) and
 * the request id.
 */
export function upstreamRequestHeaders(trustProxy: boolean): NonNullable<FastifyReplyFromHooks['rewriteRequestHeaders']> {
  return (request, incoming) => {
    const headers = incoming as RelayHeaders;
    const raw = request.raw as IncomingMessage;
    dropHopByHop(headers);
    if (headers.expect !== undefined) delete headers.expect;
    if (raw.headers['content-type'] === undefined && headers['content-type'] !== undefined) delete headers['content-type'];
    if (raw.headers.host !== undefined) headers.host = raw.headers.host;
    const peer = raw.socket.remoteAddress ?? '';
    const priorFor = trustProxy ? first(raw.headers['x-forwarded-for']) : undefined;
    headers['x-forwarded-for'] = priorFor ? `${priorFor}, ${peer}` : peer;
    // Fastify reads X-Forwarded-Proto/Host only when the peer is trusted.
    headers['x-forwarded-proto'] = request.protocol;
    if (request.host) headers['x-forwarded-host'] = request.host;
    headers['x-request-id'] = request.id;
    headers[CLIENT] = raw;
    return headers;
  };
}

/** The upstream's answer headers, without the hop-by-hop ones, with the gateway's request id. */
export const clientResponseHeaders: NonNullable<FastifyReplyFromHooks['rewriteHeaders']> = (incoming, request) => {
  const headers = incoming as IncomingHttpHeaders;
  const listed = headers.connection;
  if (listed !== undefined) {
    for (const token of listed.split(',')) {
      const name = token.trim().toLowerCase();
      if (name !== '' && headers[name] !== undefined) delete headers[name];
    }
    delete headers.connection;
  }
  dropHopByHop(headers);
  if (request !== undefined) headers['x-request-id'] = request.id;
  return headers;
};

/** Where a failed upstream exchange leaves the client: an error to answer, or nobody left to answer. */
export type UpstreamFailure = { readonly code: 'UPSTREAM_UNAVAILABLE' | 'UPSTREAM_TIMEOUT'; readonly kind: UpstreamErrorKind };

const TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT']);

function codeOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/**
 * Classifies an error of an upstream exchange (reply-from wraps undici's in
 * `cause`): silence past the timeout is a 504, anything else (refused,
 * reset, unreachable) a 502; undefined when the client left (its abort).
 */
export function upstreamFailure(error: Error): UpstreamFailure | undefined {
  const code = codeOf(error.cause) ?? codeOf(error);
  if (code === 'UND_ERR_ABORTED') return undefined;
  return code !== undefined && TIMEOUT_CODES.has(code)
    ? { code: 'UPSTREAM_TIMEOUT', kind: 'timeout' }
    : { code: 'UPSTREAM_UNAVAILABLE', kind: 'unavailable' };
}

export interface RelayOptions {
  readonly upstream: UpstreamName;
  readonly origin: string;
  /** Longest the upstream may stay silent: before its answer's headers, and between two body chunks. */
  readonly timeoutMs: number;
  readonly trustProxy: boolean;
  /** Told once per request that the upstream failed (never when the client left). */
  readonly onUpstreamError: (upstream: UpstreamName, kind: UpstreamErrorKind) => void;
}

/** What reply-from's `retryDelay` is actually given as `req`: its own request description, not Fastify's. */
interface AttemptedRequest {
  readonly method: string;
  readonly body: unknown;
}

const RETRYABLE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** What reply-from hands `onResponse` (its typings say a ServerResponse): `RelayHandler`'s answer. */
interface UpstreamAnswer {
  readonly stream: WholeAnswer | Readable;
}

/** The reply as reply-from's hooks type it. */
type RelayReply = Parameters<NonNullable<FastifyReplyFromHooks['onError']>>[0];

/**
 * reply-from's options for one upstream, made once and shared by all its
 * requests. Failures become the catalogue's 502/504 and are counted, whether
 * the upstream fails before its answer or while its body is read (`reset`
 * when it breaks off, `timeout` when it goes silent). Only one retry: a
 * body-less idempotent request whose kept-alive connection the upstream
 * closed just as it was reused (undici's "other side closed"); reply-from's
 * default of retrying a GET that got a 503 up to ten times is off, the 503
 * is the answer.
 */
export function relayOptions(options: RelayOptions): FastifyReplyFromHooks {
  const { upstream, origin } = options;

  /**
   * How an exchange failed, counted: after the answer's headers the upstream broke off (`reset`) or went
   * silent (`timeout`); undefined when it is the client who left.
   */
  const failed = (err: Error, midAnswer: boolean): UpstreamFailure | undefined => {
    const failure = upstreamFailure(err);
    if (failure === undefined) return undefined;
    const kind = midAnswer && failure.kind !== 'timeout' ? 'reset' : failure.kind;
    options.onUpstreamError(upstream, kind);
    return { code: failure.code, kind };
  };
  const countStreamError = (err: Error): void => void failed(err, true);

  /** Answers the catalogue's error for `failure`, unless the client is gone. */
  const answer = (reply: RelayReply, failure: UpstreamFailure | undefined, err: Error): void => {
    const request = reply.request;
    if (failure === undefined || reply.raw.destroyed) {
      // The client left: nobody to answer, and not the upstream's fault.
      request.log.info({ upstream }, 'client closed the connection before the answer');
      return;
    }
    request.log.warn({ err: err.cause ?? err, upstream, code: failure.code }, 'upstream request failed');
    const raw = request.raw as IncomingMessage;
    if (!raw.complete) {
      // The unread rest of the body would stall this keep-alive connection: drain it, then close.
      reply.header('connection', 'close');
      raw.resume();
    }
    reply.code(ERRORS[failure.code].status).send(errorBody(ERRORS[failure.code].message));
  };

  return {
    getUpstream: () => origin,
    timeout: options.timeoutMs,
    rewriteRequestHeaders: upstreamRequestHeaders(options.trustProxy),
    rewriteHeaders: clientResponseHeaders,
    retryDelay: ({ err, req, attempt }) => {
      const attempted = req as unknown as AttemptedRequest;
      const bodyless = attempted.body === '' || attempted.body === undefined;
      const retryable = bodyless && RETRYABLE_METHODS.has(attempted.method) && !brokeMidAnswer(err);
      return attempt === 0 && codeOf(err) === 'UND_ERR_SOCKET' && retryable ? 1 : null;
    },
    onResponse: (_request, reply, response) => {
      const { stream: body } = response as unknown as UpstreamAnswer;
      if (body instanceof WholeAnswer) {
        reply.send(body.bytes);
      } else {
        body.on('error', countStreamError);
        reply.send(body);
      }
    },
    onError: (reply, { error }) => {
      // reply-from wraps the exchange's error; a small answer broken off mid-body arrives here too.
      answer(reply, failed(error, brokeMidAnswer(error.cause ?? error)), error);
    },
  };
}

/** Prepares a request for relaying: its upstream request is cancelled if the client leaves before the answer. */
export function prepareRelay(_request: FastifyRequest, reply: FastifyReply): void {
  reply.raw.once('close', abandonIfUnanswered);
}

/** What `withBody` gives reply-from: the upstream's options, and this request's bytes. */
type BodyRelay = FastifyReplyFromHooks & { body: Buffer; contentType: string };

/**
 * reply-from's options for a request with a body (read whole by the gateway, within the limit): the
 * upstream's shared options, with the bytes to send as they came. Given as a body of a stated type,
 * reply-from sends them untouched with their Content-Length (given as the request's body, it would
 * re-encode an `application/json` one). Without a client Content-Type, `upstreamRequestHeaders` removes
 * the one reply-from then states.
 */
export function withBody(options: FastifyReplyFromHooks, body: Buffer, contentType: string | undefined): FastifyReplyFromHooks {
  const relay = Object.create(options) as BodyRelay;
  relay.body = body;
  relay.contentType = contentType ?? 'application/octet-stream';
  return relay;
}
