import { AppError, appError } from '../../lib/errors/index.ts';
import {
  type BackupManifest,
  findBackup,
  listBackups,
  type Progress,
  type PrunePlan,
  pruneBackups,
  type RestoreReport,
  restoreBackup,
  takeBackup,
  verifyBackup,
} from '../../ops/backup/index.ts';
import { QuoteStore } from '../../services/quotes/quote-store.ts';
import type { CliConfig } from '../config.ts';
import { withRedis } from '../redis.ts';

/** An unknown id (or an empty backup folder) is the operator's to fix: exit 1 with where to look. */
function notFound(err: unknown): never {
  if (err instanceof AppError && err.code === 'BACKUP_NOT_FOUND') {
    throw appError('BACKUP_NOT_FOUND', { detail: `${err.detail} (see \`haddock backups list\`)`, cause: err });
  }
  throw err;
}

/** Fails with the clear "Redis is not reachable" message before any file is written. */
async function requireRedis(config: CliConfig): Promise<void> {
  await withRedis(config.ops.redis, async () => undefined);
}

/**
 * `haddock backup`: a snapshot, then (unless told not to) its restore drill, both under the backup lock
 * (BACKUP_IN_PROGRESS, exit 1, while another backup, restore or prune runs anywhere on this Redis).
 */
export async function backupCommand(
  config: CliConfig,
  options: { verify: boolean; onProgress?: Progress },
): Promise<BackupManifest> {
  await requireRedis(config);
  return takeBackup(config.ops, { kind: 'manual', onProgress: options.onProgress, verify: options.verify });
}

/**
 * `haddock verify [id]`: the restore drill. Returns the manifest with its
 * verification; the caller fails (exit 1) when `verification.ok` is false.
 */
export async function verifyCommand(config: CliConfig, id: string | undefined, onProgress?: Progress): Promise<BackupManifest> {
  await findBackup(config.ops, id).catch(notFound);
  return verifyBackup(config.ops, id, onProgress);
}

export async function listCommand(config: CliConfig): Promise<BackupManifest[]> {
  return listBackups(config.ops);
}

export async function pruneCommand(config: CliConfig, dryRun: boolean): Promise<PrunePlan> {
  return pruneBackups(config.ops, { dryRun });
}

/**
 * `haddock restore [id]`: asks `confirm` first (unless `--yes`), then restores
 * after a safety backup of the current state. The library checks the file
 * against its manifest first and refuses a damaged one before anything is
 * touched; the services' cached catalogue is invalidated afterwards.
 */
export async function restoreCommand(
  config: CliConfig,
  id: string | undefined,
  options: { yes: boolean; confirm: (question: string) => Promise<boolean>; onProgress?: Progress },
): Promise<RestoreReport> {
  const manifest = await findBackup(config.ops, id).catch(notFound);
  await requireRedis(config);
  if (!options.yes) {
    const ok = await options.confirm(
      `Restore ${manifest.id} (${manifest.created_at}, ${manifest.keys.total} keys) into ${manifest.source}? The current state is saved first.`,
    );
    if (!ok) throw appError('RESTORE_CANCELLED', { detail: 'restore cancelled' });
  }
  return restoreBackup(config.ops, manifest.id, {
    onProgress: options.onProgress,
    afterRestore: (redis) => new QuoteStore(redis, config.ops.redisKeyPrefix).invalidateSnapshots(),
  });
}
