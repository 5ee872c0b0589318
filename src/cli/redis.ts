import { Redis } from 'ioredis';
import { describeSource } from '../ops/backup/index.ts';
import { CliError } from './errors.ts';

/** Runs `work` with a Redis connection, closed afterwards; an unreachable Redis is a clear CLI error. */
export async function withRedis<T>(url: string, work: (redis: Redis) => Promise<T>): Promise<T> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null, connectTimeout: 3_000 });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
  } catch (err) {
    redis.disconnect();
    throw new CliError(
      `Redis is not reachable at ${describeSource(url)} (${(err as Error).message}). Is the platform running (npm start), or REDIS_URL set?`,
      1,
    );
  }
  try {
    return await work(redis);
  } finally {
    redis.disconnect();
  }
}
