import {
  type Env,
  EnvReader,
  type HttpConfig,
  type LogConfig,
  type ResourceConfig,
  readBodyLimitBytes,
  readHttpConfig,
  readLogConfig,
  readResourceConfig,
} from '../../lib/config/index.ts';

export interface GatewayConfig extends LogConfig, ResourceConfig, HttpConfig {
  readonly host: string;
  readonly port: number;
  /** Where the gateway's own /metrics listens: a separate port, loopback by default, never the public one. */
  readonly metricsHost: string;
  readonly metricsPort: number;
  /** Upstream base URLs (scheme, host and port; a path, if any, is ignored). */
  readonly upstreams: {
    readonly users: string;
    readonly quotes: string;
    readonly search: string;
    readonly ops: string;
  };
  /**
   * Requests per client address per minute (RATE_LIMIT_PER_MINUTE, default 10): a fixed 60-second window
   * per address that opens on its first request; 0 turns the limit off.
   */
  readonly rateLimitPerMinute: number;
  /** Longest an upstream may stay silent (no header, no body byte) before the gateway gives up. */
  readonly upstreamTimeoutMs: number;
  /**
   * Largest request body relayed (BODY_LIMIT_BYTES, the services' own limit, default 16 KiB): a larger one is
   * refused with 413 before any upstream sees it, a declared Content-Length at once (without `100 Continue`).
   */
  readonly bodyLimitBytes: number;
  /** Believe X-Forwarded-* from the peer (only behind another trusted proxy). */
  readonly trustProxy: boolean;
  readonly shutdownGraceMs: number;
}

export function loadConfig(env: Env): GatewayConfig {
  const reader = new EnvReader(env);
  const config: GatewayConfig = {
    host: reader.string('HOST', '0.0.0.0'),
    port: reader.port('GATEWAY_PORT', 8000),
    metricsHost: reader.string('GATEWAY_METRICS_HOST', '127.0.0.1'),
    metricsPort: reader.port('GATEWAY_METRICS_PORT', 8010),
    upstreams: Object.freeze({
      users: reader.url('USERS_URL', 'http://127.0.0.1:8001', ['http:']),
      quotes: reader.url('QUOTES_URL', 'http://127.0.0.1:8002', ['http:']),
      search: reader.url('SEARCH_URL', 'http://127.0.0.1:8003', ['http:']),
      ops: reader.url('OPS_URL', 'http://127.0.0.1:8004', ['http:']),
    }),
    rateLimitPerMinute: reader.int('RATE_LIMIT_PER_MINUTE', 10, 0, 1_000_000),
    upstreamTimeoutMs: reader.int('UPSTREAM_TIMEOUT_MS', 10_000, 50, 600_000),
    bodyLimitBytes: readBodyLimitBytes(reader),
    trustProxy: reader.bool('TRUST_PROXY', false),
    shutdownGraceMs: reader.int('SHUTDOWN_GRACE_MS', 10_000, 0, 120_000),
    // The same LOG_* spellings and limits as the services, so one environment drives every process.
    ...readLogConfig(reader),
    ...readResourceConfig(reader),
    ...readHttpConfig(reader),
  };
  if (config.metricsPort !== 0 && config.metricsPort === config.port) {
    reader.problem(`GATEWAY_METRICS_PORT must differ from GATEWAY_PORT (both ${config.port}): /metrics must never be public`);
  }
  reader.done();
  return Object.freeze(config);
}
