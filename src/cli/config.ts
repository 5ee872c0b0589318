import { join } from 'node:path';
import { type Env, EnvReader, readRedisConfig, readRedisKeyPrefix } from '../lib/config/index.ts';
import { type OpsConfig, REPO_ROOT, readOpsConfig } from '../ops/config.ts';

/** What the `haddock` commands read: the same variables as the services and the runner. */
export interface CliConfig {
  readonly ops: OpsConfig;
  readonly gatewayUrl: string;
  readonly prometheusUrl: string;
  readonly alertmanagerUrl: string;
  readonly logDir: string;
  /** Rotated log files older than this are deleted by `haddock clean` (the spec: 30 days). */
  readonly logRetentionDays: number;
  /** Resolved incidents older than this are deleted by `haddock clean`. */
  readonly incidentRetentionDays: number;
  readonly repoRoot: string;
}

/** Reads every variable the CLI uses with one reader, and reports every problem at once. */
export function loadCliConfig(env: Env): CliConfig {
  const reader = new EnvReader(env);
  const varDir = reader.string('HADDOCK_VAR_DIR', join(REPO_ROOT, 'var'));
  const gatewayPort = reader.port('GATEWAY_PORT', 8000);
  const prometheusPort = reader.port('PROMETHEUS_PORT', 9090);
  const alertmanagerPort = reader.port('ALERTMANAGER_PORT', 9093);
  // Without REDIS_URL or REDIS_SENTINELS the tools talk to the local platform's private Redis.
  const redisPort = reader.port('REDIS_PORT', 6390);
  const redis = readRedisConfig(reader, { url: `redis://127.0.0.1:${redisPort}` });
  const config: CliConfig = {
    ops: readOpsConfig(reader, { redis, redisKeyPrefix: readRedisKeyPrefix(reader) }),
    gatewayUrl: reader.url('HADDOCK_URL', `http://localhost:${gatewayPort}`, ['http:', 'https:']),
    prometheusUrl: reader.url('PROMETHEUS_URL', `http://127.0.0.1:${prometheusPort}`, ['http:', 'https:']),
    alertmanagerUrl: reader.url('ALERTMANAGER_URL', `http://127.0.0.1:${alertmanagerPort}`, ['http:', 'https:']),
    logDir: reader.string('LOG_DIR', join(varDir, 'log')),
    logRetentionDays: reader.int('LOG_RETENTION_DAYS', 30, 1, 3_650),
    incidentRetentionDays: reader.int('INCIDENT_RETENTION_DAYS', 365, 1, 36_500),
    repoRoot: REPO_ROOT,
  };
  reader.done();
  return Object.freeze(config);
}
