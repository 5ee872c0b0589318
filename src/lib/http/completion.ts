import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

/** Status recorded for a request whose client went away before the answer was complete (nginx's convention). */
export const CLIENT_CLOSED_STATUS = 499;

/** Something told of every request once it is answered or abandoned: the HTTP metrics, the request log line. */
export interface RequestCompletion {
  /** When the request arrives (optional). */
  readonly started?: (request: FastifyRequest, reply: FastifyReply) => void;
  /** Once per request: with the answer's status, or 499 when the client left before the answer was complete. */
  readonly settled: (request: FastifyRequest, reply: FastifyReply, status: number) => void;
}

interface InFlight {
  readonly request: FastifyRequest;
  readonly reply: FastifyReply;
  done: boolean;
}

const IN_FLIGHT = Symbol('haddock.inFlight');
type TrackedResponse = FastifyReply['raw'] & { [IN_FLIGHT]?: InFlight };

/**
 * Tells `parts` of every request's end, exactly once: at `onResponse`, or
 * when the connection closes before the answer was complete (Fastify runs
 * no `onResponse` then). One record and one shared close listener per
 * request, whatever the number of parts.
 */
export function trackCompletion(app: FastifyInstance, parts: readonly RequestCompletion[]): void {
  if (parts.length === 0) return;
  const starters = parts.flatMap((part) => (part.started === undefined ? [] : [part.started]));
  const settle = (inFlight: InFlight, status: number): void => {
    inFlight.done = true;
    for (const part of parts) part.settled(inFlight.request, inFlight.reply, status);
  };
  function onClose(this: TrackedResponse): void {
    const inFlight = this[IN_FLIGHT];
    // A finished answer is settled by onResponse, which follows.
    if (inFlight === undefined || inFlight.done || this.writableFinished) return;
    settle(inFlight, CLIENT_CLOSED_STATUS);
  }
  app.addHook('onRequest', (request, reply, done) => {
    for (const start of starters) start(request, reply);
    const res = reply.raw as TrackedResponse;
    res[IN_FLIGHT] = { request, reply, done: false };
    res.once('close', onClose);
    done();
  });
  app.addHook('onResponse', (_request, reply, done) => {
    const inFlight = (reply.raw as TrackedResponse)[IN_FLIGHT];
    if (inFlight !== undefined && !inFlight.done) settle(inFlight, reply.statusCode);
    done();
  });
}
