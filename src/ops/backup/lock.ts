import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { RedisConfig } from '../../lib/config/index.ts';
import { appError } from '../../lib/errors/index.ts';
import { createToolRedis, describeRedis, type Redis } from '../../lib/redis/index.ts';

/** How long a lock outlives its holder when the holder dies without releasing it. */
export const BACKUP_LOCK_TTL_MS = 30_000;

/** The lock's key, under the platform's prefix; backups count and restore none of it (see `takeInventory`'s `exclude`). */
export function backupLockKey(prefix: string): string {
  return `${prefix}ops:backup-lock`;
}

// Renew and release only while the key still holds our token: a holder whose lock expired never
// extends or deletes the lock another process took since.
const RENEW = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end`;
const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;

/** A held lock: its key and token, and whether a renewal found it taken away. */
export interface BackupLock {
  readonly key: string;
  readonly token: string;
  /** True once a renewal found the key gone or someone else's (the work went on past the TTL unrenewed). */
  readonly lost: boolean;
}

export interface LockOptions {
  /** What the holder is doing, recorded in the token for whoever is refused (`backup`, `restore`…). */
  readonly what: string;
  readonly ttlMs?: number;
}

/**
 * Runs `work` holding the one backup lock of the platform's Redis: one backup,
 * drill, restore or prune at a time across the CLI, the operations service and
 * its replicas. `SET key token NX PX ttl`, renewed every third of the TTL while
 * `work` runs, released by compare-and-delete. Refused at once with
 * BACKUP_IN_PROGRESS (409) when another holder has it.
 */
export async function withBackupLock<T>(
  config: { readonly redis: RedisConfig; readonly redisKeyPrefix: string },
  options: LockOptions,
  work: (lock: BackupLock) => Promise<T>,
): Promise<T> {
  const ttl = options.ttlMs ?? BACKUP_LOCK_TTL_MS;
  const key = backupLockKey(config.redisKeyPrefix);
  const token = `${options.what} ${hostname()}:${process.pid} ${randomUUID()}`;
  const redis = createToolRedis(config.redis, { connectionName: 'haddock-backup-lock' });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
  } catch (err) {
    redis.disconnect();
    throw appError('REDIS_UNAVAILABLE', {
      detail: `Redis is not reachable at ${describeRedis(config.redis)} for the backup lock (${(err as Error).message})`,
      cause: err,
    });
  }
  try {
    if ((await redis.set(key, token, 'PX', ttl, 'NX')) !== 'OK') {
      const holder = await redis.get(key);
      throw appError('BACKUP_IN_PROGRESS', {
        detail: `another backup, restore or prune is running${holder === null ? '' : ` (${holder.split(' ').slice(0, 2).join(' on ')})`}; try again when it ends`,
      });
    }
    const lock = { key, token, lost: false };
    const renewal = setInterval(
      () => {
        renew(redis, lock, ttl).catch(() => undefined);
      },
      Math.max(Math.floor(ttl / 3), 10),
    );
    try {
      return await work(lock);
    } finally {
      clearInterval(renewal);
      await redis.eval(RELEASE, 1, key, token).catch(() => undefined);
    }
  } finally {
    redis.disconnect();
  }
}

async function renew(redis: Redis, lock: { key: string; token: string; lost: boolean }, ttl: number): Promise<void> {
  if (Number(await redis.eval(RENEW, 1, lock.key, lock.token, String(ttl))) !== 1) lock.lost = true;
}
