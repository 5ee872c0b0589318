import { join, resolve } from 'node:path';
import { type Env, EnvReader, readRedisConfig, readRedisKeyPrefix } from '../lib/config/index.ts';
import { type OpsConfig, REPO_ROOT, readOpsConfig } from '../ops/config.ts';
import { gatewayHealthUrl } from '../ops/health/index.ts';

/** What the `haddock` commands read: the same variables as the services and the runner. */
export interface CliConfig {
  readonly ops: OpsConfig;
  /** Where `haddock health` and `check` ask whether the gateway answers: GATEWAY_HEALTH_URL, else under HADDOCK_URL. */
  readonly gatewayHealthUrl: string;
  /** Each service's own URL: `haddock check` asks their readiness there, never through the gateway. */
  readonly serviceUrls: ServiceUrls;
  readonly prometheusUrl: string;
  readonly alertmanagerUrl: string;
  /** LOG_DIR, else the local runner's `$HADDOCK_VAR_DIR/log` (by default `<repo>/var/log`). */
  readonly logDir: string;
  /** Whether LOG_DIR named `logDir`: a named directory that is missing is a failure, a missing default is not. */
  readonly logDirConfigured: boolean;
  /** Rotated log files older than this are deleted by `haddock clean` (the spec: 30 days). */
  readonly logRetentionDays: number;
  /** Resolved incidents older than this are deleted by `haddock clean`. */
  readonly incidentRetentionDays: number;
  readonly repoRoot: string;
}

/** Each service's own base URL, by the variables the gateway reads them from. */
export interface ServiceUrls {
  readonly users: string;
  readonly quotes: string;
  readonly search: string;
}

/**
 * USERS_URL, QUOTES_URL and SEARCH_URL (the gateway's own variables for its upstreams), each by default
 * the local runner's port on 127.0.0.1 (USERS_PORT 8001, QUOTES_PORT 8002, SEARCH_PORT 8003).
 */
export function readServiceUrls(reader: EnvReader): ServiceUrls {
  const url = (name: string, portName: string, port: number) =>
    reader.url(name, `http://127.0.0.1:${reader.port(portName, port)}`, ['http:', 'https:']);
  return Object.freeze({
    users: url('USERS_URL', 'USERS_PORT', 8001),
    quotes: url('QUOTES_URL', 'QUOTES_PORT', 8002),
    search: url('SEARCH_URL', 'SEARCH_PORT', 8003),
  });
}

/** Only the services' URLs (`haddock health` reads nothing else), every problem reported at once. */
export function loadServiceUrls(env: Env): ServiceUrls {
  const reader = new EnvReader(env);
  const urls = readServiceUrls(reader);
  reader.done();
  return urls;
}

/** Where the logs are: LOG_DIR, else the local runner's `$HADDOCK_VAR_DIR/log` (by default `<repo>/var/log`). */
export interface LogDirSetting {
  readonly path: string;
  /** True when LOG_DIR named it; false for the local runner's default, which an image-based platform does not have. */
  readonly configured: boolean;
}

/**
 * LOG_DIR, else `$HADDOCK_VAR_DIR/log` (where `npm start` writes), else `<repo>/var/log`; relative paths are the
 * caller's working directory's, as the runner resolves them.
 */
export function readLogDir(reader: EnvReader): LogDirSetting {
  const configured = reader.raw('LOG_DIR');
  if (configured !== undefined) return { path: resolve(configured), configured: true };
  return { path: resolve(reader.string('HADDOCK_VAR_DIR', join(REPO_ROOT, 'var')), 'log'), configured: false };
}

/** Only the log directory (`haddock logs` reads nothing else). */
export function loadLogDir(env: Env): LogDirSetting {
  const reader = new EnvReader(env);
  const setting = readLogDir(reader);
  reader.done();
  return setting;
}

/**
 * The gateway's liveness URL: GATEWAY_HEALTH_URL (where Traefik is the gateway: its ping, `http://traefik:8080/ping`),
 * else `/gateway/health` under HADDOCK_URL (the project's gateway).
 */
function readGatewayHealthUrl(reader: EnvReader, gatewayPort: number): string {
  const gateway = reader.url('HADDOCK_URL', `http://localhost:${gatewayPort}`, ['http:', 'https:']);
  return reader.url('GATEWAY_HEALTH_URL', gatewayHealthUrl(gateway), ['http:', 'https:']);
}

/** Reads every variable the CLI uses with one reader, and reports every problem at once. */
export function loadCliConfig(env: Env): CliConfig {
  const reader = new EnvReader(env);
  const logDir = readLogDir(reader);
  const gatewayPort = reader.port('GATEWAY_PORT', 8000);
  const prometheusPort = reader.port('PROMETHEUS_PORT', 9090);
  const alertmanagerPort = reader.port('ALERTMANAGER_PORT', 9093);
  // Without REDIS_URL or REDIS_SENTINELS the tools talk to the local platform's private Redis.
  const redisPort = reader.port('REDIS_PORT', 6390);
  const redis = readRedisConfig(reader, { url: `redis://127.0.0.1:${redisPort}` });
  const config: CliConfig = {
    ops: readOpsConfig(reader, { redis, redisKeyPrefix: readRedisKeyPrefix(reader) }),
    gatewayHealthUrl: readGatewayHealthUrl(reader, gatewayPort),
    serviceUrls: readServiceUrls(reader),
    prometheusUrl: reader.url('PROMETHEUS_URL', `http://127.0.0.1:${prometheusPort}`, ['http:', 'https:']),
    alertmanagerUrl: reader.url('ALERTMANAGER_URL', `http://127.0.0.1:${alertmanagerPort}`, ['http:', 'https:']),
    logDir: logDir.path,
    logDirConfigured: logDir.configured,
    logRetentionDays: reader.int('LOG_RETENTION_DAYS', 30, 1, 3_650),
    incidentRetentionDays: reader.int('INCIDENT_RETENTION_DAYS', 365, 1, 36_500),
    repoRoot: REPO_ROOT,
  };
  reader.done();
  return Object.freeze(config);
}
