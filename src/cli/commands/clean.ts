import { readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { pruneBackups } from '../../ops/backup/index.ts';
import { IncidentStore } from '../../ops/incidents/index.ts';
import type { CliConfig } from '../config.ts';
import { withRedis } from '../redis.ts';

export interface CleanReport {
  readonly dry_run: boolean;
  readonly backups_removed: readonly string[];
  readonly backup_protected?: string;
  readonly log_files_removed: readonly string[];
  readonly incidents_removed: readonly string[];
}

/** Rotated log files (`name.log.N`, `name.out.N`) older than the retention. Live files are never touched. */
async function oldRotatedLogs(dir: string, olderThan: Date): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  const old: string[] = [];
  for (const name of names.filter((n) => /\.(log|out)\.\d+(\.gz)?$/.test(n))) {
    const info = await stat(join(dir, name));
    if (info.mtime < olderThan) old.push(name);
  }
  return old.sort();
}

/**
 * `haddock clean`: applies retention to backups, rotated logs and resolved
 * incidents; `dryRun` only lists. Redis is reached first, so an unreachable
 * Redis fails the command before any file is removed.
 */
export async function cleanCommand(config: CliConfig, dryRun: boolean, now = new Date()): Promise<CleanReport> {
  return withRedis(config.ops.redis, async (redis) => {
    const incidents = await new IncidentStore(redis, config.ops.redisKeyPrefix).deleteResolvedBefore(
      new Date(now.getTime() - config.incidentRetentionDays * 86_400_000),
      dryRun,
    );
    const backups = await pruneBackups(config.ops, { dryRun, now });
    const logs = await oldRotatedLogs(config.logDir, new Date(now.getTime() - config.logRetentionDays * 86_400_000));
    if (!dryRun) for (const name of logs) await rm(join(config.logDir, name), { force: true });
    return {
      dry_run: dryRun,
      backups_removed: backups.remove.map((m) => m.id),
      ...(backups.protected ? { backup_protected: backups.protected } : {}),
      log_files_removed: logs,
      incidents_removed: incidents,
    };
  });
}
