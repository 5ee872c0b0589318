import { type Command, Redis } from 'ioredis';
import { AppError } from '../errors/index.ts';

export { Redis };

/** Told of every command once it settles: its lowercased name, round trip in seconds, and whether it failed. */
export type CommandObserver = (command: string, seconds: number, failed: boolean) => void;

export interface RedisOptions {
  readonly url: string;
  readonly commandTimeoutMs: number;
  /** Name shown by CLIENT LIST, to tell the services apart on a shared Redis. */
  readonly connectionName?: string;
  /** Do not connect until the first command (for documentation-only apps). */
  readonly lazy?: boolean;
  /** Observes every command (the metrics' latency histogram and error counter). */
  readonly onCommand?: CommandObserver;
}

/**
 * Creates a client tuned to fail fast: no offline queue, so a request made
 * while Redis is down fails at once instead of waiting; a command timeout so a
 * stalled Redis cannot hang a request; reconnection forever with capped backoff.
 */
export function createRedis(options: RedisOptions): Redis {
  const redis = new Redis(options.url, {
    lazyConnect: options.lazy ?? false,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: options.commandTimeoutMs,
    connectTimeout: 2_000,
    connectionName: options.connectionName,
    // CLIENT SETINFO fails on Redis < 7.2 at every connection: noise in the error counter, and the name says enough.
    disableClientInfo: true,
    retryStrategy: (attempt) => Math.min(100 * 2 ** attempt, 2_000),
  });
  if (options.onCommand !== undefined) observeCommands(redis, options.onCommand);
  return redis;
}

/**
 * Wraps the client's `sendCommand`, through which every command passes
 * (pipelines, MULTI and scripts included), to time it until its promise
 * settles. A command ioredis sends again after a reconnection is timed once.
 */
export function observeCommands(redis: Redis, observe: CommandObserver): void {
  const send = redis.sendCommand;
  const seen = new WeakSet<Command>();
  const settled = (command: Command, started: number, failed: boolean) => {
    observe(command.name.toLowerCase(), (performance.now() - started) / 1_000, failed);
  };
  redis.sendCommand = function (this: Redis, command: Command, ...rest: unknown[]) {
    if (!seen.has(command)) {
      seen.add(command);
      const started = performance.now();
      command.promise.then(
        () => settled(command, started, false),
        () => settled(command, started, true),
      );
    }
    return (send as (this: Redis, ...args: unknown[]) => unknown).call(this, command, ...rest);
  } as Redis['sendCommand'];
}

const UNAVAILABLE_PATTERNS = [
  /Stream isn't writeable/i,
  /Connection is closed/i,
  /Command timed out/i,
  /ECONNREFUSED/,
  /ECONNRESET/,
  /ETIMEDOUT/,
  /EPIPE/,
  /LOADING/,
  /MaxRetriesPerRequest/i,
  /Reached the max retries/i,
];

/** True when an error means Redis cannot be reached right now (answer 503, not 500). */
export function isRedisUnavailable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  if (err.name === 'MaxRetriesPerRequestError') return true;
  return UNAVAILABLE_PATTERNS.some((pattern) => pattern.test(err.message));
}

/** Converts a Redis outage into the API's 503; other errors pass through. */
export function toServiceError(err: unknown): unknown {
  return isRedisUnavailable(err) ? new AppError('REDIS_UNAVAILABLE', undefined, undefined, { cause: err }) : err;
}

/** Waits until Redis answers PING, or throws after `timeoutMs`. */
export async function waitForRedis(redis: Redis, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      if (redis.status === 'ready') {
        await redis.ping();
        return;
      }
    } catch (err) {
      lastError = err;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`Redis not reachable after ${timeoutMs} ms`, { cause: lastError });
}
