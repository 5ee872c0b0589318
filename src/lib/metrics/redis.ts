import type { Redis } from 'ioredis';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { parseMemoryReading, type RedisMemoryState } from '../redis/index.ts';
import { bounded, scrapeGauge } from './registry.ts';

/** Redis command latency buckets, in seconds: 100 µs to 1 s. */
export const REDIS_LATENCY_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1];

/** How long a scrape waits for Redis before leaving its series out. */
const SCRAPE_TIMEOUT_MS = 500;

/** Called once per Redis command when it settles; `createRedis`'s `onCommand`. */
export type RedisCommandObserver = (command: string, seconds: number, failed: boolean, refusedForMemory: boolean) => void;

export interface RedisMetrics {
  /** Give this to `createRedis({ onCommand })`. */
  readonly observe: RedisCommandObserver;
  /**
   * Adds the series read from the client at scrape time: up, memory used, maxmemory, and, given the client's
   * memory state (`createRedis({ memory })`), whether Redis is full.
   */
  watch(redis: Redis, memory?: RedisMemoryState): void;
}

/** Reads `used_memory` and `maxmemory` from an `INFO memory` answer. */
export function parseMemoryInfo(info: string): { used: number; max: number } | undefined {
  const reading = parseMemoryReading(info);
  return reading === undefined ? undefined : { used: reading.used, max: reading.max };
}

/**
 * The dependency series of a service's Redis client:
 * `haddock_redis_command_duration_seconds{command}`, `haddock_redis_errors_total`,
 * `haddock_redis_write_refusals_total{reason="oom"}`, and, once `watch`ed,
 * `haddock_redis_up`, `haddock_redis_memory_used_bytes` /
 * `haddock_redis_maxmemory_bytes` and `haddock_redis_memory_full` (one
 * `INFO memory` per scrape, left out when Redis does not answer; maxmemory 0
 * means no limit).
 */
export function createRedisMetrics(registry: Registry): RedisMetrics {
  const duration = new Histogram({
    name: 'haddock_redis_command_duration_seconds',
    help: 'Redis command round trips, by lowercased command name (failures included)',
    labelNames: ['command'],
    buckets: REDIS_LATENCY_BUCKETS,
    registers: [registry],
  });
  const errors = new Counter({
    name: 'haddock_redis_errors_total',
    help: 'Redis commands that failed (refused while disconnected, timed out, or answered an error)',
    registers: [registry],
  });
  const refusals = new Counter({
    name: 'haddock_redis_write_refusals_total',
    help: 'Writes Redis refused, by reason (oom: at maxmemory); a refused transaction counts once',
    labelNames: ['reason'],
    registers: [registry],
  });
  // Present at 0 from the start, so increase() sees the first refusal.
  refusals.inc({ reason: 'oom' }, 0);
  const oomRefusals = refusals.labels('oom');
  const byCommand = new Map<string, Histogram.Internal<string>>();

  return {
    observe: (command, seconds, failed, refusedForMemory) => {
      let child = byCommand.get(command);
      if (child === undefined) {
        child = duration.labels(command);
        byCommand.set(command, child);
      }
      child.observe(seconds);
      if (failed) errors.inc();
      if (refusedForMemory) oomRefusals.inc();
    },
    watch: (redis, state) => {
      new Gauge({
        name: 'haddock_redis_up',
        help: "1 when the service's Redis connection is ready, else 0",
        registers: [registry],
        collect() {
          this.set(redis.status === 'ready' ? 1 : 0);
        },
      });
      // The memory gauges share one INFO per scrape: the registry asks them in the same tick.
      let info: Promise<{ used: number; max: number; full: boolean } | undefined> | undefined;
      const memory = () => {
        info ??= bounded(async () => {
          if (redis.status !== 'ready') return undefined;
          const reading = parseMemoryReading(await redis.info('memory'));
          if (reading === undefined) return undefined;
          return { used: reading.used, max: reading.max, full: state?.observe(reading) ?? false };
        }, SCRAPE_TIMEOUT_MS).finally(() => {
          info = undefined;
        });
        return info;
      };
      scrapeGauge({
        registry,
        name: 'haddock_redis_memory_used_bytes',
        help: 'Memory Redis uses (INFO used_memory); absent when Redis does not answer the scrape',
        read: async () => (await memory())?.used,
        timeoutMs: SCRAPE_TIMEOUT_MS + 100,
      });
      scrapeGauge({
        registry,
        name: 'haddock_redis_maxmemory_bytes',
        help: 'Redis maxmemory (0: no limit); absent when Redis does not answer the scrape',
        read: async () => (await memory())?.max,
        timeoutMs: SCRAPE_TIMEOUT_MS + 100,
      });
      if (state === undefined) return;
      scrapeGauge({
        registry,
        name: 'haddock_redis_memory_full',
        help:
          '1 while Redis refuses writes for memory: from a refused write, or INFO over maxmemory, until INFO shows ' +
          'it under 99 % of maxmemory; absent when Redis does not answer the scrape',
        read: async () => {
          const reading = await memory();
          return reading === undefined ? undefined : reading.full ? 1 : 0;
        },
        timeoutMs: SCRAPE_TIMEOUT_MS + 100,
      });
    },
  };
}
