import { randomBytes } from 'node:crypto';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError, type Env, EnvReader, type RedisConfig, readRedisConfig } from '../../lib/config/index.ts';
import { enabledAlertChannels } from '../monitoring-config/index.ts';

export interface PlatformPorts {
  readonly gateway: number;
  /** The gateway's separate /metrics listener (never exposed through the proxy port). */
  readonly gatewayMetrics: number;
  readonly users: number;
  readonly quotes: number;
  readonly search: number;
  /** The operations service (incidents, KPIs, scheduled backups; Alertmanager's receiver). */
  readonly ops: number;
  /** Each service's private /metrics listener (its METRICS_PORT): what Prometheus scrapes, never relayed by the gateway. */
  readonly usersMetrics: number;
  readonly quotesMetrics: number;
  readonly searchMetrics: number;
  readonly opsMetrics: number;
  /** The private redis-server's port (unused when REDIS_URL or REDIS_SENTINELS is set). */
  readonly redis: number;
  /** The local webhook receiver of Alertmanager. */
  readonly alertSink: number;
  /** Unused when MONITORING=off, like the next one. */
  readonly prometheus: number;
  readonly alertmanager: number;
}

/** `auto` starts Prometheus and Alertmanager when installed; `on` requires them; `off` never starts them. */
export type MonitoringMode = 'auto' | 'on' | 'off';
/** `test` shortens every interval and `for:` so an alert fires within seconds. */
export type MonitoringProfile = 'production' | 'test';

export interface MonitoringConfig {
  readonly mode: MonitoringMode;
  readonly profile: MonitoringProfile;
  readonly scrapeInterval: string;
  readonly evaluationInterval: string;
  readonly groupWait: string;
  readonly groupInterval: string | undefined;
  readonly repeatInterval: string | undefined;
  /** The value of the `namespace` label the dashboards select on. */
  readonly namespace: string;
}

export interface RunnerConfig {
  /** The repository root: where `src/`, `data/` and `node_modules/` are. */
  readonly home: string;
  /**
   * Runtime state: `redis/` (data, AOF), `log/` (one file per child), `run/` (pid files),
   * `monitoring/` (generated Prometheus and Alertmanager configuration), `prometheus/`, `alertmanager/`.
   */
  readonly varDir: string;
  /** The interface the services and the gateway listen on. */
  readonly host: string;
  /** The interface of the gateway's metrics listener. */
  readonly gatewayMetricsHost: string;
  /** The interface of the services' metrics listeners (METRICS_HOST, default HOST). */
  readonly metricsHost: string;
  readonly ports: PlatformPorts;
  /** An external Redis (REDIS_URL or REDIS_SENTINELS); when undefined the runner starts a private redis-server. */
  readonly redis: RedisConfig | undefined;
  /** REDIS_URL as given (password included), handed to the children; undefined under Sentinel or a private Redis. */
  readonly redisUrl: string | undefined;
  /**
   * The private Redis's memory ceiling (`maxmemory`, policy `noeviction`: a full
   * Redis refuses writes rather than silently dropping quotes or users). The
   * RedisMemoryNearLimit alert warns at 90% — the spec's INC-2024-001 was a Redis OOM.
   */
  readonly redisMaxmemory: string;
  /** The bearer token Alertmanager sends to the operations service's webhook. */
  readonly alertWebhookToken: string;
  readonly quotesSeedFile: string;
  readonly usersSeedFile: string;
  readonly monitoring: MonitoringConfig;
  /** How long each child has to answer its readiness probe at start-up. */
  readonly readyTimeoutMs: number;
  /** How long a service or the gateway has to exit after SIGTERM before SIGKILL. */
  readonly stopTimeoutMs: number;
  /** The runner's environment, passed through to every child (PATH is read from it too). */
  readonly env: Env;
}

/** The repository root, three levels above this file (src/platform/runner). */
export const DEFAULT_HOME = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

const PROFILES: Record<MonitoringProfile, Omit<MonitoringConfig, 'mode' | 'profile' | 'namespace'>> = {
  production: {
    scrapeInterval: '15s',
    evaluationInterval: '15s',
    groupWait: '30s',
    groupInterval: undefined,
    repeatInterval: undefined,
  },
  // Fast enough for an end-to-end test to see an alert fire and resolve within a minute.
  test: { scrapeInterval: '1s', evaluationInterval: '1s', groupWait: '1s', groupInterval: '1s', repeatInterval: '1m' },
};

const PORT_VARIABLES: Record<keyof PlatformPorts, string> = {
  gateway: 'GATEWAY_PORT',
  gatewayMetrics: 'GATEWAY_METRICS_PORT',
  users: 'USERS_PORT',
  quotes: 'QUOTES_PORT',
  search: 'SEARCH_PORT',
  ops: 'OPS_PORT',
  usersMetrics: 'USERS_METRICS_PORT',
  quotesMetrics: 'QUOTES_METRICS_PORT',
  searchMetrics: 'SEARCH_METRICS_PORT',
  opsMetrics: 'OPS_METRICS_PORT',
  redis: 'REDIS_PORT',
  alertSink: 'ALERT_SINK_PORT',
  prometheus: 'PROMETHEUS_PORT',
  alertmanager: 'ALERTMANAGER_PORT',
};

/** The ALERT_* variables (receivers' URLs and keys): handed to the Alertmanager renderer, never printed. */
export function alertVariables(env: Env): Record<string, string | undefined> {
  return Object.fromEntries(Object.entries(env).filter(([name]) => name.startsWith('ALERT_')));
}

function redisMaxmemory(reader: EnvReader): string {
  const value = reader.string('REDIS_MAXMEMORY', '384mb').toLowerCase();
  if (!/^\d+(kb|mb|gb)?$/.test(value)) reader.problem(`REDIS_MAXMEMORY must look like 256mb or 1gb, got "${value}"`);
  return value;
}

export function loadConfig(env: Env): RunnerConfig {
  const reader = new EnvReader(env);
  const home = resolve(reader.string('HADDOCK_HOME', DEFAULT_HOME));
  const varDir = resolve(reader.string('HADDOCK_VAR_DIR', join(home, 'var')));
  const external = reader.raw('REDIS_URL') !== undefined || reader.raw('REDIS_SENTINELS') !== undefined;
  // Checked here with the rest (both set, a bad Sentinel list, a missing password file), not by each child in turn.
  const redis = external ? readRedisConfig(reader, { url: '' }) : undefined;
  const redisUrl = redis?.mode === 'url' ? reader.raw('REDIS_URL') : undefined;
  const mode = reader.oneOf<MonitoringMode>('MONITORING', 'auto', ['auto', 'on', 'off']);
  const profile = reader.oneOf<MonitoringProfile>('MONITORING_PROFILE', 'production', ['production', 'test']);
  // Port 0 is refused: the runner must know each port to probe it and hand it to the gateway.
  const port = (name: keyof PlatformPorts, fallback: number) => reader.int(PORT_VARIABLES[name], fallback, 1, 65535);
  const ports: PlatformPorts = Object.freeze({
    gateway: port('gateway', 8000),
    gatewayMetrics: port('gatewayMetrics', 8010),
    users: port('users', 8001),
    quotes: port('quotes', 8002),
    search: port('search', 8003),
    ops: port('ops', 8004),
    // Each service's public port plus 10, as the gateway's 8000 and 8010.
    usersMetrics: port('usersMetrics', 8011),
    quotesMetrics: port('quotesMetrics', 8012),
    searchMetrics: port('searchMetrics', 8013),
    opsMetrics: port('opsMetrics', 8014),
    redis: port('redis', 6390),
    alertSink: port('alertSink', 9095),
    prometheus: port('prometheus', 9090),
    alertmanager: port('alertmanager', 9093),
  });
  const unused = new Set<keyof PlatformPorts>();
  if (redis !== undefined) unused.add('redis');
  if (mode === 'off') {
    unused.add('prometheus');
    unused.add('alertmanager');
  }
  const seen = new Map<number, keyof PlatformPorts>();
  for (const [name, value] of Object.entries(ports) as [keyof PlatformPorts, number][]) {
    if (unused.has(name)) continue;
    const other = seen.get(value);
    if (other !== undefined) reader.problem(`${PORT_VARIABLES[name]} and ${PORT_VARIABLES[other]} are both ${value}`);
    seen.set(value, name);
  }
  if (mode !== 'off') {
    // The receivers' variables are checked now, with the others, rather than when Alertmanager starts.
    try {
      enabledAlertChannels(alertVariables(env));
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      for (const problem of err.problems) reader.problem(problem);
    }
  }
  const host = reader.string('HOST', '127.0.0.1');
  const config: RunnerConfig = {
    home,
    varDir,
    host,
    gatewayMetricsHost: reader.string('GATEWAY_METRICS_HOST', '127.0.0.1'),
    metricsHost: reader.string('METRICS_HOST', host),
    ports,
    redis,
    redisUrl,
    redisMaxmemory: redisMaxmemory(reader),
    alertWebhookToken: reader.string('ALERT_WEBHOOK_TOKEN', randomBytes(24).toString('base64url')),
    quotesSeedFile: resolve(home, reader.string('QUOTES_SEED_FILE', join(home, 'data/initial_data_quotes.csv'))),
    usersSeedFile: resolve(home, reader.string('USERS_SEED_FILE', join(home, 'data/initial_data_users.csv'))),
    monitoring: Object.freeze({ mode, profile, namespace: 'haddock', ...PROFILES[profile] }),
    readyTimeoutMs: 30_000,
    stopTimeoutMs: 10_000,
    env: Object.freeze({ ...env }),
  };
  reader.done();
  return Object.freeze(config);
}
