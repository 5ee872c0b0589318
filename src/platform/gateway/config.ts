import { type Env, EnvReader, LOG_LEVELS, type LogLevel } from '../../lib/config/index.ts';

export interface GatewayConfig {
  readonly host: string;
  readonly port: number;
  /** Upstream base URLs (scheme, host and port; a path, if any, is ignored). */
  readonly upstreams: {
    readonly users: string;
    readonly quotes: string;
    readonly search: string;
  };
  /** Requests per client IP per 60-second window; 0 turns the limit off. */
  readonly rateLimitPerMinute: number;
  /** Longest an upstream may stay silent (no header, no body byte) before the gateway gives up. */
  readonly upstreamTimeoutMs: number;
  readonly logLevel: LogLevel;
  /** Believe X-Forwarded-* from the peer (only behind another trusted proxy). */
  readonly trustProxy: boolean;
  readonly shutdownGraceMs: number;
}

// The same spellings lib/config accepts for the services, so one LOG_LEVEL drives every process.
const LEVELS: Record<string, LogLevel> = {
  debug: 'debug',
  info: 'info',
  warning: 'warn',
  warn: 'warn',
  error: 'error',
  critical: 'fatal',
  fatal: 'fatal',
  silent: 'silent',
};

export function loadConfig(env: Env): GatewayConfig {
  const reader = new EnvReader(env);
  const levelRaw = reader.string('LOG_LEVEL', 'INFO');
  const logLevel = LEVELS[levelRaw.toLowerCase()];
  if (logLevel === undefined) reader.problem(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}, got "${levelRaw}"`);
  const config: GatewayConfig = {
    host: reader.string('HOST', '0.0.0.0'),
    port: reader.port('GATEWAY_PORT', 8000),
    upstreams: Object.freeze({
      users: reader.url('USERS_URL', 'http://127.0.0.1:8001', ['http:']),
      quotes: reader.url('QUOTES_URL', 'http://127.0.0.1:8002', ['http:']),
      search: reader.url('SEARCH_URL', 'http://127.0.0.1:8003', ['http:']),
    }),
    rateLimitPerMinute: reader.int('RATE_LIMIT_PER_MINUTE', 10, 0, 1_000_000),
    upstreamTimeoutMs: reader.int('UPSTREAM_TIMEOUT_MS', 10_000, 50, 600_000),
    logLevel: logLevel ?? 'info',
    trustProxy: reader.bool('TRUST_PROXY', false),
    shutdownGraceMs: reader.int('SHUTDOWN_GRACE_MS', 10_000, 0, 120_000),
  };
  reader.done();
  return Object.freeze(config);
}
