import { pruneBackups } from '../../ops/backup/index.ts';
import { isDirectory } from '../../ops/check/index.ts';
import { IncidentStore } from '../../ops/incidents/index.ts';
import { applyLogRetention } from '../../ops/logs/index.ts';
import type { CliConfig } from '../config.ts';
import { withRedis } from '../redis.ts';
import { requireBackupDir } from './backup.ts';

export interface CleanReport {
  readonly dry_run: boolean;
  readonly backups_removed: readonly string[];
  readonly backup_protected?: string;
  readonly log_files_removed: readonly string[];
  /** Why no rotated log file was looked at: there is no log directory (the services log to stdout). */
  readonly log_retention_skipped?: string;
  readonly incidents_removed: readonly string[];
}

/** Why there are no log files to clean, for the report. */
function noLogDirectory(config: CliConfig): string {
  return config.logDirConfigured
    ? `LOG_DIR ${config.logDir} is not a directory`
    : 'no log directory (no LOG_DIR): the services log to stdout, where Docker or the log collector keeps their lines';
}

/**
 * `haddock clean`: applies retention to backups, rotated logs and resolved
 * incidents; `dryRun` only lists. Redis is reached first, so an unreachable
 * Redis fails the command before any file is removed.
 */
export async function cleanCommand(config: CliConfig, dryRun: boolean, now = new Date()): Promise<CleanReport> {
  return withRedis(config.ops.redis, async (redis) => {
    if (!dryRun) await requireBackupDir(config);
    const incidents = await new IncidentStore(redis, config.ops.redisKeyPrefix).deleteResolvedBefore(
      new Date(now.getTime() - config.incidentRetentionDays * 86_400_000),
      dryRun,
    );
    const backups = await pruneBackups(config.ops, { dryRun, now });
    // Rotated (compressed) log files past LOG_RETENTION_DAYS; the active files are never touched. Without a log
    // directory the services log to stdout and the retention of their lines is the collector's (Docker, Loki).
    const logsHere = await isDirectory(config.logDir);
    const logs = logsHere ? await applyLogRetention(config.logDir, config.logRetentionDays, dryRun, now) : [];
    return {
      dry_run: dryRun,
      backups_removed: backups.remove.map((m) => m.id),
      ...(backups.protected ? { backup_protected: backups.protected } : {}),
      log_files_removed: logs,
      ...(logsHere ? {} : { log_retention_skipped: noLogDirectory(config) }),
      incidents_removed: incidents,
    };
  });
}
