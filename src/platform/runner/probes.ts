import { createServer } from 'node:net';
import { createDirectRedis } from '../../lib/redis/index.ts';
import type { Probe } from './child.ts';
import { PlatformError } from './errors.ts';

/** A probe that stops the wait at once: retrying cannot make it pass. */
export class FatalProbeError extends Error {
  override name = 'FatalProbeError';
}

/** Passes when `GET url` answers 2xx within a second. */
export function httpProbe(url: string): Probe {
  return async () => {
    const response = await fetch(url, { signal: AbortSignal.timeout(1_000) });
    await response.arrayBuffer();
    if (response.status < 200 || response.status > 299) throw new Error(`GET ${url} answered ${response.status}`);
  };
}

/**
 * Passes when the Redis on `port` answers and is the process the runner
 * started: its INFO `process_id` must be `pid`, or the port belongs to
 * someone else's Redis and waiting will not fix it.
 */
export function redisProbe(host: string, port: number): Probe {
  return async (pid) => {
    const redis = createDirectRedis({ host, port }, { connectTimeoutMs: 1_000, commandTimeoutMs: 1_000 });
    redis.on('error', () => {});
    try {
      await redis.connect();
      const info = await redis.info('server');
      const match = /^process_id:(\d+)/m.exec(info);
      const answering = match?.[1] === undefined ? undefined : Number(match[1]);
      if (answering !== pid) {
        throw new FatalProbeError(
          `port ${port} is answered by another Redis (pid ${answering ?? 'unknown'}), not the redis-server started here (pid ${pid})`,
        );
      }
    } finally {
      redis.disconnect();
    }
  };
}

/** Fails the start clearly when something already listens on `port`, instead of a crash loop. */
export async function assertPortFree(host: string, port: number, what: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const server = createServer();
    server.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE') {
        reject(
          new PlatformError(`port ${port} (${what}) is already in use on ${host}: stop what uses it or choose another port`),
        );
      } else if (err.code === 'EACCES') {
        reject(new PlatformError(`port ${port} (${what}) cannot be used on ${host}: permission denied`));
      } else {
        reject(err);
      }
    });
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve()));
  });
}
