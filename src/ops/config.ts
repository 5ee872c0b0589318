import { join } from 'node:path';
import { type Env, EnvReader } from '../lib/config/index.ts';

/** Settings of the operations tools (CLI and, later, the operations service). */
export interface OpsConfig {
  readonly redisUrl: string;
  readonly redisKeyPrefix: string;
  readonly backupDir: string;
  /** Backups kept by count (the spec: 7 daily). */
  readonly backupKeep: number;
  /** Backups older than this are pruned (the spec: 7 days). */
  readonly backupMaxAgeDays: number;
  readonly redisServer: string;
}

/** The repository root, where `var/` lives by default. */
export const REPO_ROOT = new URL('../..', import.meta.url).pathname;

export function loadOpsConfig(env: Env): OpsConfig {
  const reader = new EnvReader(env);
  const varDir = reader.string('HADDOCK_VAR_DIR', join(REPO_ROOT, 'var'));
  const redisPort = reader.port('REDIS_PORT', 6390);
  const config: OpsConfig = {
    // Without REDIS_URL the tools talk to the local platform's private Redis.
    redisUrl: reader.url('REDIS_URL', `redis://127.0.0.1:${redisPort}`, ['redis:', 'rediss:']),
    redisKeyPrefix: reader.string('REDIS_KEY_PREFIX', 'haddock:'),
    backupDir: reader.string('BACKUP_DIR', join(varDir, 'backups')),
    backupKeep: reader.int('BACKUP_KEEP', 7, 1, 1_000),
    backupMaxAgeDays: reader.int('BACKUP_MAX_AGE_DAYS', 7, 1, 3_650),
    redisServer: reader.string('REDIS_SERVER_BIN', 'redis-server'),
  };
  reader.done();
  return Object.freeze(config);
}
