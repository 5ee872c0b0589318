import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Env, RedisAddress } from '../../src/lib/config/index.ts';
import { freePorts } from '../../src/lib/net/index.ts';
import { createDirectRedis, type Redis } from '../../src/lib/redis/index.ts';

export const SENTINEL_INSTALL =
  'apt-get update && apt-get install -y redis-sentinel (or run: node scripts/ensure-deps.mjs as root)';

/**
 * A Sentinel-managed Redis on loopback: a primary, one replica and three
 * Sentinels (quorum 2), each a process of its own on a free port.
 */
export interface SentinelRedis {
  readonly masterName: string;
  readonly sentinels: readonly RedisAddress[];
  /** The two data servers, in start order (the first starts as the primary). */
  readonly servers: readonly RedisAddress[];
  /** REDIS_SENTINELS and REDIS_MASTER_NAME, as a service reads them (REDIS_URL removed). */
  env(): Env;
  /** The primary every Sentinel names now; fails if they disagree. */
  primary(): Promise<RedisAddress>;
  /**
   * `SENTINEL FAILOVER`, then waits until every Sentinel names the other
   * server and that server answers ROLE as a master. The old primary is
   * demoted later (the Sentinels notice it within ~10 s): clients must follow
   * the Sentinels' announcement, not wait for a READONLY.
   */
  failover(timeoutMs?: number): Promise<RedisAddress>;
  /** Stops every process and removes their folders; resolves once all have exited. */
  stop(): Promise<void>;
}

const DOWN_AFTER_MS = 1_000;
const FAILOVER_TIMEOUT_MS = 5_000;

const same = (a: RedisAddress, b: RedisAddress) => a.host === b.host && a.port === b.port;
const show = (a: RedisAddress) => `${a.host}:${a.port}`;

/** Runs `work` on a short-lived client of one server or Sentinel. */
async function ask<T>(address: RedisAddress, work: (redis: Redis) => Promise<T>): Promise<T> {
  const redis = createDirectRedis(address, { connectTimeoutMs: 1_000, commandTimeoutMs: 2_000 });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    return await work(redis);
  } finally {
    redis.disconnect();
  }
}

/** Polls `check` (errors count as "not yet") until it returns a value, or fails saying what it waited for. */
async function waitFor<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer yet';
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (err) {
      last = (err as Error).message;
    }
    if (Date.now() > deadline) throw new Error(`${what}: not reached within ${timeoutMs} ms (last: ${last})`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * Starts the primary, the replica and three Sentinels, and resolves once the
 * replica is in sync and every Sentinel knows the primary, the replica and the
 * two other Sentinels — a failover can be asked for at once. Fails with the
 * install command when `redis-sentinel` is missing.
 */
export async function startSentinelRedis(masterName = 'haddock-test'): Promise<SentinelRedis> {
  const dir = mkdtempSync(join(tmpdir(), 'haddock-sentinel-'));
  const children: ChildProcess[] = [];
  // Never outlive the test process, even when a test fails before stop().
  const killAll = () => {
    for (const child of children) child.kill('SIGKILL');
  };
  process.once('exit', killAll);

  const start = async (command: string, args: string[]): Promise<void> => {
    const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    children.push(child);
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', (err: NodeJS.ErrnoException) =>
        reject(
          err.code === 'ENOENT'
            ? new Error(
                `${command} is not installed (or not on PATH); the Sentinel tests need it. Install with: ${
                  command === 'redis-sentinel' ? SENTINEL_INSTALL : 'apt-get update && apt-get install -y redis-server'
                }`,
              )
            : err,
        ),
      );
    });
  };

  const stop = async () => {
    await Promise.all(
      children.map(async (child) => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        const exited = once(child, 'exit');
        child.kill('SIGKILL');
        await exited;
      }),
    );
    process.removeListener('exit', killAll);
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    const [primaryPort, replicaPort, ...sentinelPorts] = await freePorts(5);
    const servers: RedisAddress[] = [primaryPort, replicaPort].map((port) => ({ host: '127.0.0.1', port: port as number }));
    const sentinels: RedisAddress[] = sentinelPorts.map((port) => ({ host: '127.0.0.1', port }));
    const [primary, replica] = servers as [RedisAddress, RedisAddress];
    for (const [i, server] of servers.entries()) {
      // No delay before a diskless full sync: the replica (and, after a failover, the old primary) is in sync at once.
      const args = ['--port', String(server.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'];
      args.push('--dir', dir, '--dbfilename', `dump-${i}.rdb`, '--repl-diskless-sync', 'yes', '--repl-diskless-sync-delay', '0');
      if (server === replica) args.push('--replicaof', primary.host, String(primary.port));
      await start('redis-server', args);
    }
    await waitFor('the replica in sync with the primary', 10_000, () =>
      ask(replica, async (r) => (/master_link_status:up/.test(await r.info('replication')) ? true : undefined)),
    );
    for (const [i, sentinel] of sentinels.entries()) {
      // Sentinel rewrites its configuration file as it learns: each has its own, in the temporary folder.
      const file = join(dir, `sentinel-${i}.conf`);
      writeFileSync(
        file,
        [
          `port ${sentinel.port}`,
          'bind 127.0.0.1',
          `dir ${dir}`,
          `sentinel monitor ${masterName} ${primary.host} ${primary.port} 2`,
          `sentinel down-after-milliseconds ${masterName} ${DOWN_AFTER_MS}`,
          `sentinel failover-timeout ${masterName} ${FAILOVER_TIMEOUT_MS}`,
          `sentinel parallel-syncs ${masterName} 1`,
          '',
        ].join('\n'),
      );
      await start('redis-sentinel', [file]);
    }
    await waitFor('the three Sentinels agreeing on the primary, its replica and one another', 20_000, async () => {
      for (const sentinel of sentinels) {
        const ready = await ask(sentinel, async (r) => {
          const master = pairs((await r.call('SENTINEL', 'master', masterName)) as string[]);
          const replicas = (await r.call('SENTINEL', 'replicas', masterName)) as string[][];
          return (
            master['num-other-sentinels'] === '2' &&
            master.port === String(primary.port) &&
            replicas.some((entry) => {
              const fields = pairs(entry);
              return fields.port === String(replica.port) && !/s_down|disconnected/.test(fields.flags ?? '');
            })
          );
        });
        if (!ready) return undefined;
      }
      return true;
    });

    const named = async (): Promise<RedisAddress> => {
      const answers = await Promise.all(
        sentinels.map((s) =>
          ask(s, async (r) => (await r.call('SENTINEL', 'get-master-addr-by-name', masterName)) as [string, string]),
        ),
      );
      const [first] = answers;
      if (first === undefined || answers.some((a) => a[0] !== first[0] || a[1] !== first[1])) {
        throw new Error(`the Sentinels disagree: ${answers.map((a) => a.join(':')).join(', ')}`);
      }
      return { host: first[0], port: Number(first[1]) };
    };

    return {
      masterName,
      sentinels,
      servers,
      env: () => ({
        REDIS_URL: undefined,
        REDIS_SENTINELS: sentinels.map(show).join(','),
        REDIS_MASTER_NAME: masterName,
      }),
      primary: named,
      failover: async (timeoutMs = 20_000) => {
        const before = await named();
        const after = servers.find((s) => !same(s, before)) as RedisAddress;
        await ask(sentinels[0] as RedisAddress, (r) => r.call('SENTINEL', 'FAILOVER', masterName));
        return waitFor(`the failover from ${show(before)} to ${show(after)}`, timeoutMs, async () => {
          const now = await named();
          if (!same(now, after)) return undefined;
          const role = await ask(after, async (r) => ((await r.call('ROLE')) as [string])[0]);
          return role === 'master' ? now : undefined;
        });
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** `['a', '1', 'b', '2']` → `{ a: '1', b: '2' }`: how Sentinel answers describe an instance. */
function pairs(list: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < list.length; i += 2) out[list[i] as string] = list[i + 1] as string;
  return out;
}
