import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { EnvReader, RedisConfig } from '../lib/config/index.ts';

/** Settings of the operations tools, shared by the CLI and the operations service. */
export interface OpsConfig {
  /** The caller's own Redis configuration: one reading per process, one default. */
  readonly redis: RedisConfig;
  readonly redisKeyPrefix: string;
  readonly backupDir: string;
  /** Backups kept by count (the spec: 7 daily). */
  readonly backupKeep: number;
  /** Backups older than this are pruned (the spec: 7 days). */
  readonly backupMaxAgeDays: number;
  readonly redisServer: string;
}

/**
 * The app root, where `var/` lives by default: the repository in a checkout, `/app` in an image (dist/ mirrors
 * src/, so dist/ops/config.js is as deep as src/ops/config.ts; test/deploy/image-layout.test.ts runs it).
 * A file path, not a URL's pathname, so a checkout under a folder with a space still works.
 */
export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));

/**
 * Reads the operations settings with the caller's reader, so their problems
 * are reported with the caller's. Redis is not read here: the caller passes
 * the configuration it read itself (the service's, or the CLI's with the local
 * platform's default port), so a process reads REDIS_URL once.
 */
export function readOpsConfig(
  reader: EnvReader,
  redis: { readonly redis: RedisConfig; readonly redisKeyPrefix: string },
): OpsConfig {
  const varDir = reader.string('HADDOCK_VAR_DIR', join(REPO_ROOT, 'var'));
  return Object.freeze({
    redis: redis.redis,
    redisKeyPrefix: redis.redisKeyPrefix,
    backupDir: reader.string('BACKUP_DIR', join(varDir, 'backups')),
    backupKeep: reader.int('BACKUP_KEEP', 7, 1, 1_000),
    backupMaxAgeDays: reader.int('BACKUP_MAX_AGE_DAYS', 7, 1, 3_650),
    redisServer: reader.string('REDIS_SERVER_BIN', 'redis-server'),
  });
}
