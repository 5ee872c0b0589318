import { constants } from 'node:fs';
import { access, mkdir } from 'node:fs/promises';
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
 * BACKUP_DIR made if missing and writable, or FILE_NOT_WRITABLE (exit 1) naming it: the backup tools write nowhere
 * else (their drills' scratch folders included), so without a checkout (a read-only image, no `var/`) BACKUP_DIR
 * must name a writable volume.
 */
export async function requireBackupDir(config: CliConfig): Promise<void> {
  const dir = config.ops.backupDir;
  try {
    await mkdir(dir, { recursive: true });
    await access(dir, constants.W_OK);
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw appError('FILE_NOT_WRITABLE', {
      detail: `the backup folder ${dir} is not writable (${reason}): set BACKUP_DIR to a writable folder (a mounted volume in a container)`,
      cause: err,
    });
  }
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
  await requireBackupDir(config);
  return takeBackup(config.ops, { kind: 'manual', onProgress: options.onProgress, verify: options.verify });
}

/**
 * `haddock verify [id]`: the restore drill. Returns the manifest with its
 * verification; the caller fails (exit 1) when `verification.ok` is false.
 */
export async function verifyCommand(config: CliConfig, id: string | undefined, onProgress?: Progress): Promise<BackupManifest> {
  await findBackup(config.ops, id).catch(notFound);
  await requireBackupDir(config);
  return verifyBackup(config.ops, id, onProgress);
}

export async function listCommand(config: CliConfig): Promise<BackupManifest[]> {
  return listBackups(config.ops);
}

export async function pruneCommand(config: CliConfig, dryRun: boolean): Promise<PrunePlan> {
  if (!dryRun) await requireBackupDir(config);
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
  await requireBackupDir(config);
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
