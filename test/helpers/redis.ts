import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from '../../src/lib/net/index.ts';

const START_COMMAND = "redis-server --daemonize yes --port 6379 --save '' --appendonly no";

/** The Redis the route tests run against: `TEST_REDIS_URL`, or a local one. */
export function testRedisUrl(): string {
  return process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
}

/** A key prefix no other test file (or run) uses: `test:<name>:<random>:`. */
export function uniquePrefix(name: string): string {
  return `test:${name}:${randomBytes(6).toString('hex')}:`;
}

/** A client that fails at once instead of retrying forever, for test set-up and inspection. */
export function connectRedis(url: string = testRedisUrl()): Redis {
  return new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, connectTimeout: 2_000, retryStrategy: () => null });
}

/** Fails with what to start when Redis is not there: tests never skip silently. */
export async function requireRedis(url: string = testRedisUrl()): Promise<void> {
  const redis = connectRedis(url);
  redis.on('error', () => {});
  try {
    await redis.connect();
    await redis.ping();
  } catch (err) {
    throw new Error(`Redis is not reachable at ${url}: start it with \`${START_COMMAND}\` or set TEST_REDIS_URL`, { cause: err });
  } finally {
    redis.disconnect();
  }
}

/** Every key under `prefix`, found with SCAN (never KEYS). */
export async function scanKeys(redis: Redis, pattern: string): Promise<string[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1_000);
    keys.push(...batch);
    cursor = next;
  } while (cursor !== '0');
  return keys;
}

/** Deletes every key under `prefix`; returns how many were deleted. */
export async function cleanPrefix(url: string, prefix: string): Promise<number> {
  const redis = connectRedis(url);
  try {
    await redis.connect();
    const keys = await scanKeys(redis, `${escapeGlob(prefix)}*`);
    for (let i = 0; i < keys.length; i += 500) await redis.del(...keys.slice(i, i + 500));
    return keys.length;
  } finally {
    redis.disconnect();
  }
}

/** Escapes SCAN MATCH's glob characters so a prefix matches only itself. */
export function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}

/** Every value stored under `prefix`, as text, whatever the key type: to look for secrets in. */
export async function dumpPrefix(redis: Redis, prefix: string): Promise<Map<string, string>> {
  const dump = new Map<string, string>();
  for (const key of await scanKeys(redis, `${escapeGlob(prefix)}*`)) {
    const type = await redis.type(key);
    let value: unknown;
    if (type === 'string') value = await redis.get(key);
    else if (type === 'hash') value = await redis.hgetall(key);
    else if (type === 'set') value = await redis.smembers(key);
    else if (type === 'list') value = await redis.lrange(key, 0, -1);
    else if (type === 'zset') value = await redis.zrange(key, 0, -1, 'WITHSCORES');
    else value = `<${type}>`;
    dump.set(key, JSON.stringify(value));
  }
  return dump;
}

export interface PrivateRedis {
  readonly url: string;
  readonly port: number;
  /** Stops the server and waits for the process to exit. */
  stop(): Promise<void>;
  /** Starts it again on the same port (empty: nothing is kept on disk). */
  restart(): Promise<void>;
}

async function waitForPing(url: string, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`redis-server exited with code ${child.exitCode} before answering PING`);
    const redis = connectRedis(url);
    redis.on('error', () => {});
    try {
      await redis.connect();
      if ((await redis.ping()) === 'PONG') return;
    } catch (err) {
      lastError = err;
    } finally {
      redis.disconnect();
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`redis-server did not answer PING at ${url} within ${timeoutMs} ms`, { cause: lastError });
}

async function spawnRedis(port: number): Promise<ChildProcess> {
  // Its own folder, so a replication snapshot (backup tests) never lands in the checkout.
  const dir = mkdtempSync(join(tmpdir(), 'haddock-test-redis-'));
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--save', '', '--appendonly', 'no', '--bind', '127.0.0.1', '--dir', dir],
    { stdio: 'ignore' },
  );
  child.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  // Never outlive the test process, even when a test fails before stop().
  const kill = () => child.kill('SIGKILL');
  process.once('exit', kill);
  child.once('exit', () => process.removeListener('exit', kill));
  const spawned = new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        err.code === 'ENOENT'
          ? new Error('redis-server is not installed (or not on PATH): the Redis-outage tests need it to start a private Redis', {
              cause: err,
            })
          : err,
      ),
    );
  });
  await spawned;
  await waitForPing(`redis://127.0.0.1:${port}`, child, 5_000);
  return child;
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 3_000);
  await exited;
  clearTimeout(timer);
}

/**
 * Starts a throw-away `redis-server` on a free port, keeping nothing on disk,
 * for tests that stop and restart Redis under running services.
 */
export async function startPrivateRedis(): Promise<PrivateRedis> {
  const port = await freePort();
  let child: ChildProcess | undefined = await spawnRedis(port);
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    stop: async () => {
      if (child !== undefined) await stopChild(child);
      child = undefined;
    },
    restart: async () => {
      if (child !== undefined) await stopChild(child);
      child = await spawnRedis(port);
    },
  };
}
