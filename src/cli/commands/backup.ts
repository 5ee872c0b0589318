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
import type { CliConfig } from '../config.ts';
import { CliError } from '../errors.ts';

/** `haddock backup`: a snapshot, then (unless told not to) its restore drill. */
export async function backupCommand(
  config: CliConfig,
  options: { verify: boolean; onProgress?: Progress },
): Promise<BackupManifest> {
  const manifest = await takeBackup(config.ops, { kind: 'manual', onProgress: options.onProgress });
  return options.verify ? verifyBackup(config.ops, manifest.id, options.onProgress) : manifest;
}

/** `haddock verify [id]`: the restore drill; fails (exit 1) when the backup does not hold what its manifest says. */
export async function verifyCommand(config: CliConfig, id: string | undefined, onProgress?: Progress): Promise<BackupManifest> {
  const verified = await verifyBackup(config.ops, id, onProgress).catch((err: Error) => {
    throw new CliError(err.message, 1);
  });
  return verified;
}

export async function listCommand(config: CliConfig): Promise<BackupManifest[]> {
  return listBackups(config.ops);
}

export async function pruneCommand(config: CliConfig, dryRun: boolean): Promise<PrunePlan> {
  return pruneBackups(config.ops, { dryRun });
}

/**
 * `haddock restore [id]`: asks `confirm` first (unless `--yes`), then restores
 * after a safety backup of the current state.
 */
export async function restoreCommand(
  config: CliConfig,
  id: string | undefined,
  options: { yes: boolean; confirm: (question: string) => Promise<boolean>; onProgress?: Progress },
): Promise<RestoreReport> {
  const manifest = await findBackup(config.ops, id).catch((err: Error) => {
    throw new CliError(err.message, 1);
  });
  if (!options.yes) {
    const ok = await options.confirm(
      `Restore ${manifest.id} (${manifest.created_at}, ${manifest.keys.total} keys) into ${manifest.source}? The current state is saved first.`,
    );
    if (!ok) throw new CliError('restore cancelled', 1);
  }
  return restoreBackup(config.ops, manifest.id, options.onProgress);
}
