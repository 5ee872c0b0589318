import type { RedisConfig } from '../lib/config/index.ts';
import { appError } from '../lib/errors/index.ts';
import { createToolRedis, describeRedis, type Redis } from '../lib/redis/index.ts';

/** Runs `work` with a Redis connection, closed afterwards; an unreachable Redis is REDIS_UNAVAILABLE saying where it looked. */
export async function withRedis<T>(config: RedisConfig, work: (redis: Redis) => Promise<T>): Promise<T> {
  const redis = createToolRedis(config, { connectionName: 'haddock-cli' });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
  } catch (err) {
    redis.disconnect();
    throw appError('REDIS_UNAVAILABLE', {
      detail: `Redis is not reachable at ${describeRedis(config)} (${(err as Error).message}). Is the platform running (npm start), or REDIS_URL (or REDIS_SENTINELS) set?`,
      cause: err,
    });
  }
  try {
    return await work(redis);
  } finally {
    redis.disconnect();
  }
}
