/**
 * Prometheus metrics (prom-client): one registry per app, the spec's HTTP
 * series (6.6.3.1), Redis dependency series, and the `/metrics` route. The
 * metric names are a contract with the alert rules and dashboards in
 * `monitoring/`: never rename them.
 */

export { Counter, Gauge, Histogram, Registry } from 'prom-client';
export {
  CLIENT_CLOSED_STATUS,
  type EndpointOf,
  HTTP_LATENCY_BUCKETS,
  httpMetrics,
  registerMetricsRoute,
  routeEndpoint,
} from './http.ts';
export { type CgroupReader, type DetectedLimit, detectCpuLimit, detectMemoryLimit, readCgroupFile } from './limits.ts';
export {
  createRedisMetrics,
  parseMemoryInfo,
  REDIS_LATENCY_BUCKETS,
  type RedisCommandObserver,
  type RedisMetrics,
} from './redis.ts';
export { bounded, buildVersion, createRegistry, type RegistryOptions, type ScrapeGaugeOptions, scrapeGauge } from './registry.ts';
