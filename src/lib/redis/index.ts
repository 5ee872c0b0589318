import { type Command, type RedisOptions as IORedisOptions, Redis } from 'ioredis';
import type { RedisAddress, RedisConfig, RedisSentinelConfig, Secret } from '../config/index.ts';

export { Redis };

/**
 * Told of every command once it settles: its lowercased name, round trip in seconds, whether it failed, and
 * whether that failure was Redis refusing a write because it is at `maxmemory` (see {@link isRedisFull}; a
 * refused transaction is told once, on its EXEC, not once per queued command).
 */
export type CommandObserver = (command: string, seconds: number, failed: boolean, refusedForMemory: boolean) => void;

/** What a service's client adds to the configuration. */
export interface ServiceRedisOptions {
  /** Name shown by CLIENT LIST, to tell the services apart on a shared Redis. */
  readonly connectionName?: string;
  /** Do not connect until the first command (for documentation-only apps). */
  readonly lazy?: boolean;
  /** Observes every command (the metrics' latency histogram and error counter). */
  readonly onCommand?: CommandObserver;
  /** Told when Redis refuses a write for memory (readiness and the memory gauge read it). */
  readonly memory?: RedisMemoryState;
}

/** What a one-shot tool's client (CLI, checks, backups) adds to the configuration. */
export interface ToolRedisOptions {
  readonly connectionName?: string;
  /** How long connecting (through the Sentinels, when configured) may take. */
  readonly connectTimeoutMs?: number;
}

/** What a client of one server at a fixed address (a drill's throwaway server, a probe) adds. */
export interface DirectRedisOptions {
  /** Default 2 s. */
  readonly connectTimeoutMs?: number;
  /** Unset: none (a drill's inventory of a large backup may take long). */
  readonly commandTimeoutMs?: number;
  readonly password?: Secret;
}

/**
 * A demoted primary answers writes with READONLY: dropping the connection
 * makes the client ask the Sentinels again and land on the new primary. The
 * command that met it still fails (`true`, not 2 = resend), so its request
 * answers 503 rather than waiting; the next one reaches the new primary.
 */
function reconnectOnReadonly(err: Error): boolean {
  return err.message.startsWith('READONLY');
}

/** The connection part of ioredis's options: where Redis is and how to authenticate. */
function connectionOptions(config: RedisConfig): IORedisOptions {
  const password = config.password?.reveal();
  if (config.mode === 'url') return password === undefined ? {} : { password };
  return sentinelOptions(config, password);
}

function sentinelOptions(config: RedisSentinelConfig, password: string | undefined): IORedisOptions {
  return {
    sentinels: config.sentinels.map(({ host, port }) => ({ host, port })),
    name: config.masterName,
    role: 'master',
    ...(password === undefined ? {} : { password }),
    ...(config.sentinelPassword === undefined ? {} : { sentinelPassword: config.sentinelPassword.reveal() }),
  };
}

function make(config: RedisConfig, options: IORedisOptions): Redis {
  const connection = { ...connectionOptions(config), ...options };
  return config.mode === 'url' ? new Redis(config.url, connection) : new Redis(connection);
}

/**
 * Creates a service's client, tuned to fail fast: no offline queue, so a
 * request made while Redis is down fails at once instead of waiting; a command
 * timeout so a stalled Redis cannot hang a request; reconnection forever with
 * capped backoff. Under Sentinel it finds the primary through the Sentinels,
 * follows a failover (their `+switch-master` message, or a READONLY answer)
 * and keeps asking them while none answers.
 */
export function createRedis(config: RedisConfig, options: ServiceRedisOptions = {}): Redis {
  const backoff = (attempt: number) => Math.min(100 * 2 ** attempt, 2_000);
  const redis = make(config, {
    lazyConnect: options.lazy ?? false,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: config.commandTimeoutMs,
    connectTimeout: 2_000,
    connectionName: options.connectionName,
    // CLIENT SETINFO fails on Redis < 7.2 at every connection: noise in the error counter, and the name says enough.
    disableClientInfo: true,
    retryStrategy: backoff,
    reconnectOnError: reconnectOnReadonly,
    ...(config.mode === 'sentinel' ? { sentinelRetryStrategy: backoff, failoverDetector: true } : {}),
  });
  const { onCommand, memory } = options;
  if (onCommand !== undefined || memory !== undefined) {
    observeCommands(redis, (command, seconds, failed, refusedForMemory) => {
      if (refusedForMemory) memory?.refused();
      onCommand?.(command, seconds, failed, refusedForMemory);
    });
  }
  return redis;
}

/**
 * Creates a one-shot tool's client: it connects when asked (`connect()` or
 * the first command) and never retries, so an unreachable Redis (or no
 * Sentinel answering) is an error at once rather than a wait.
 */
export function createToolRedis(config: RedisConfig, options: ToolRedisOptions = {}): Redis {
  return make(config, {
    lazyConnect: true,
    maxRetriesPerRequest: 1,
    connectTimeout: options.connectTimeoutMs ?? 3_000,
    connectionName: options.connectionName,
    retryStrategy: () => null,
    reconnectOnError: reconnectOnReadonly,
    ...(config.mode === 'sentinel' ? { sentinelRetryStrategy: () => null } : {}),
  });
}

/**
 * Creates a client of one server at a fixed address, never through Sentinel:
 * the restore drills' throwaway servers, the runner's probe of the Redis it
 * started, a Sentinel itself. Lazy, no offline queue, no retry.
 */
export function createDirectRedis(address: RedisAddress, options: DirectRedisOptions = {}): Redis {
  return new Redis({
    host: address.host,
    port: address.port,
    ...(options.password === undefined ? {} : { password: options.password.reveal() }),
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    connectTimeout: options.connectTimeoutMs ?? 2_000,
    commandTimeout: options.commandTimeoutMs,
    retryStrategy: () => null,
  });
}

/**
 * Where the primary is now: REDIS_URL's address, or the answer of the first
 * Sentinel that knows the master name (`SENTINEL get-master-addr-by-name`).
 * For what cannot go through a client (the backup's replication stream).
 */
export async function findPrimary(config: RedisConfig, timeoutMs = 3_000): Promise<RedisAddress> {
  if (config.mode === 'url') {
    const url = new URL(config.url);
    return { host: url.hostname.replace(/^\[(.*)\]$/, '$1') || '127.0.0.1', port: Number(url.port || 6379) };
  }
  const failures: string[] = [];
  for (const sentinel of config.sentinels) {
    const client = createDirectRedis(sentinel, {
      connectTimeoutMs: timeoutMs,
      commandTimeoutMs: timeoutMs,
      password: config.sentinelPassword,
    });
    client.on('error', () => undefined);
    try {
      await client.connect();
      const answer = (await client.call('SENTINEL', 'get-master-addr-by-name', config.masterName)) as [string, string] | null;
      if (answer !== null && answer.length === 2) return { host: answer[0], port: Number(answer[1]) };
      failures.push(`${sentinel.host}:${sentinel.port} does not know "${config.masterName}"`);
    } catch (err) {
      failures.push(`${sentinel.host}:${sentinel.port}: ${(err as Error).message}`);
    } finally {
      client.disconnect();
    }
  }
  throw new Error(`no Sentinel gave the primary of "${config.masterName}" (${failures.join('; ')})`);
}

/** `127.0.0.1:6379`, or `primary "haddock" via sentinels a:26379,b:26379`: never a password. */
export function describeRedis(config: RedisConfig): string {
  if (config.mode === 'sentinel') {
    const list = config.sentinels.map(({ host, port }) => `${host}:${port}`).join(',');
    return `primary "${config.masterName}" via sentinels ${list}`;
  }
  try {
    const url = new URL(config.url);
    return `${url.hostname}:${url.port || 6379}`;
  } catch {
    return 'an invalid REDIS_URL';
  }
}

/**
 * Wraps the client's `sendCommand`, through which every command passes
 * (pipelines, MULTI and scripts included), to time it until its promise
 * settles. A command ioredis sends again after a reconnection is timed once.
 *
 * It also tells which failures were Redis refusing a write for memory. Under
 * `maxmemory` Redis refuses each command queued in a MULTI, then the EXEC
 * with EXECABORT; replies settle in order on one connection, so an OOM among
 * the queued commands marks the EXEC that follows, and the transaction counts
 * as one refusal.
 */
export function observeCommands(redis: Redis, observe: CommandObserver): void {
  const send = redis.sendCommand;
  const seen = new WeakSet<Command>();
  let queuedRefusal = false;
  const settled = (command: Command, started: number, error: unknown, failed: boolean) => {
    const name = command.name.toLowerCase();
    let refused = false;
    if (command.inTransaction && name !== 'exec') {
      if (failed && isRedisFull(error)) queuedRefusal = true;
    } else {
      refused = failed && (isRedisFull(error) || (name === 'exec' && queuedRefusal));
      if (name === 'exec') queuedRefusal = false;
    }
    observe(name, (performance.now() - started) / 1_000, failed, refused);
  };
  redis.sendCommand = function (this: Redis, command: Command, ...rest: unknown[]) {
    if (!seen.has(command)) {
      seen.add(command);
      const started = performance.now();
      command.promise.then(
        () => settled(command, started, undefined, false),
        (err: unknown) => settled(command, started, err, true),
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
  // A demoted primary during a Sentinel failover: the client is reconnecting to the new one.
  /^READONLY/,
  /All sentinels are unreachable/i,
];

/** True when an error means Redis cannot be reached right now (answer 503, not 500). */
export function isRedisUnavailable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  if (err.name === 'MaxRetriesPerRequestError') return true;
  if (UNAVAILABLE_PATTERNS.some((pattern) => pattern.test(err.message))) return true;
  // A MULTI refused as a whole (EXECABORT) carries why each command was: a READONLY among them is an outage too.
  const previous = (err as { previousErrors?: unknown }).previousErrors;
  return Array.isArray(previous) && previous.some(isRedisUnavailable);
}

// Redis's answer to a command it will not run at maxmemory; a script's error carries it too (`… -OOM command …`).
const OOM_PATTERN = /\bOOM command not allowed\b/;

/**
 * True when an error means Redis refused a write because it is at `maxmemory` (policy `noeviction`, or nothing
 * left to evict): the OOM answer, a script whose write met it, or a MULTI refused as a whole (EXECABORT) because
 * a queued command met it. Reads still work then (answer 503 for the write, not 500, and keep serving reads).
 */
export function isRedisFull(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  if (OOM_PATTERN.test(err.message)) return true;
  const previous = (err as { previousErrors?: unknown }).previousErrors;
  return Array.isArray(previous) && previous.some(isRedisFull);
}

/** What `INFO memory` says of the memory limit, in bytes. */
export interface MemoryReading {
  /** `used_memory`. */
  readonly used: number;
  /** `maxmemory`; 0 means no limit. */
  readonly max: number;
  /** `mem_not_counted_for_evict` (replica and AOF buffers), which Redis leaves out of its limit; 0 when absent. */
  readonly notCounted: number;
  /** `maxmemory_policy` (`noeviction` when absent, Redis's default). */
  readonly policy: string;
}

/** Reads the memory limit's figures from an `INFO memory` answer; undefined when it has none. */
export function parseMemoryReading(info: string): MemoryReading | undefined {
  const field = (name: string) => new RegExp(`^${name}:(\\d+)`, 'm').exec(info)?.[1];
  const used = field('used_memory');
  const max = field('maxmemory');
  if (used === undefined || max === undefined) return undefined;
  return {
    used: Number(used),
    max: Number(max),
    notCounted: Number(field('mem_not_counted_for_evict') ?? 0),
    policy: /^maxmemory_policy:(\S+)/m.exec(info)?.[1] ?? 'noeviction',
  };
}

/** Below this share of `maxmemory`, a Redis that refused a write is taken as having room again. */
export const MEMORY_ROOM_RATIO = 0.99;

/**
 * Whether Redis refuses writes for lack of memory, as one client sees it. Redis refuses a write when its used
 * memory (less what it does not count) is over `maxmemory` at that instant, and the figure moves by each client's
 * buffers: a large write may be refused while a small one passes. So the state is full from the moment a write is
 * refused (`refused()`, told by `createRedis`) or an `INFO memory` reading is over the limit, and clears only when
 * a reading shows room again: under {@link MEMORY_ROOM_RATIO} of `maxmemory`, or no limit at all. Under an
 * eviction policy Redis evicts before each command, INFO included, so a reading within the limit is room enough.
 */
export class RedisMemoryState {
  #full = false;

  /** True while Redis refuses writes for memory, as last seen. */
  get full(): boolean {
    return this.#full;
  }

  /** Redis refused a write for memory. */
  refused(): void {
    this.#full = true;
  }

  /** Takes an `INFO memory` reading into account; returns whether Redis is full now. */
  observe(reading: MemoryReading): boolean {
    const counted = Math.max(0, reading.used - reading.notCounted);
    if (counted > reading.max && reading.max > 0) this.#full = true;
    else if (reading.max === 0 || reading.policy !== 'noeviction' || counted < reading.max * MEMORY_ROOM_RATIO)
      this.#full = false;
    return this.#full;
  }

  /**
   * Reads `INFO memory` (allowed at `maxmemory`: it writes nothing) and returns whether Redis is full now;
   * throws when Redis does not answer, as a PING would.
   */
  async check(redis: Redis): Promise<boolean> {
    const reading = parseMemoryReading(await redis.info('memory'));
    return reading === undefined ? this.#full : this.observe(reading);
  }
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
