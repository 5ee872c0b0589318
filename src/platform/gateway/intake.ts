import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ERRORS, errorBody } from '../../lib/errors/index.ts';

/** The parsed "body" of every content type: its bytes, as the client sent them. */
function keepBytes(_request: FastifyRequest, body: Buffer, done: (err: null, body: Buffer) => void): void {
  done(null, body);
}

/**
 * Request bodies are read whole by the gateway, up to `limitBytes` (the services' BODY_LIMIT_BYTES), before
 * anything is relayed: one beyond is refused with 413 by the gateway itself, never half-sent to an upstream
 * that would refuse it and close while the gateway is still writing (a 502 and an upstream error counted
 * for a client's fault). Fastify's reader does the counting: a declared Content-Length over the limit is
 * refused before a byte is read, a chunked body as soon as it grows past it, a length that does not match
 * the bytes sent is a 400; after such an error the connection is closed (the rest of the body is unread).
 * `Expect: 100-continue` is the app factory's: a declared length within the limit is invited, one beyond is
 * refused 413 without it; another `Expect` is a 417.
 */
export function acceptBodiesWithinLimit(app: FastifyInstance, limitBytes: number): void {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: limitBytes }, keepBytes);
}

const CONNECT_REFUSED = (() => {
  const { status, message } = ERRORS.METHOD_NOT_ALLOWED;
  const body = JSON.stringify(errorBody(message));
  return (
    `HTTP/1.1 ${status} Method Not Allowed\r\nContent-Type: application/json; charset=utf-8\r\n` +
    `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`
  );
})();

/**
 * A `CONNECT` (a tunnel request) is not Fastify's: Node hands it to a 'connect' listener or, without one,
 * drops the connection unanswered. The gateway tunnels nothing: 405 with the catalogue's body, then close.
 */
export function refuseConnect(app: FastifyInstance): void {
  app.server.on('connect', (_request: IncomingMessage, socket: Socket) => {
    // The socket is the listener's now: an error on it (the client gone) must not go unhandled.
    socket.on('error', () => socket.destroy());
    socket.end(CONNECT_REFUSED);
  });
}
