import { listBackups } from '../../ops/backup/index.ts';
import {
  AUDIT_ITEM,
  type CheckItem,
  type CheckStatus,
  checkAudit,
  checkBackups,
  checkDisk,
  checkGateway,
  checkLogs,
  checkMemory,
  checkRedis,
  checkServices,
  countStatuses,
  guarded,
  isDirectory,
  LOG_ITEM,
} from '../../ops/check/index.ts';
import type { CliConfig } from '../config.ts';

export interface CheckReport {
  readonly ok: boolean;
  readonly at: string;
  /** Items per status; `skip` (not applicable here, with the reason in its detail) is neither a pass nor a failure. */
  readonly counts: Readonly<Record<CheckStatus, number>>;
  readonly items: readonly CheckItem[];
}

/**
 * `haddock check`: the spec's maintenance checklist (6.3.1.2), measured. `ok`
 * is false when an item fails; warnings and skipped items do not fail the check.
 * Without LOG_DIR and without the local runner's log directory (an image-based
 * platform, its services logging to stdout) the log item is skipped and the disk
 * item measures the backup folder alone.
 */
export async function checkCommand(
  config: CliConfig,
  options: { audit: boolean; countErrorLines: (since: Date) => Promise<Record<string, number>> },
  now = new Date(),
): Promise<CheckReport> {
  const logsHere = config.logDirConfigured || (await isDirectory(config.logDir));
  const disk: Record<string, string> = { backups: config.ops.backupDir, ...(logsHere ? { logs: config.logDir } : {}) };
  const items = await Promise.all([
    guarded('services healthy', () => checkServices(config.serviceUrls)),
    guarded('gateway up', () => checkGateway(config.gatewayHealthUrl)),
    guarded('redis reachable', () => checkRedis(config.ops.redis)),
    guarded('disk space', () => checkDisk(disk)),
    guarded('host memory', () => checkMemory()),
    guarded(LOG_ITEM, () =>
      checkLogs(config.logDir, () => options.countErrorLines(new Date(now.getTime() - 86_400_000)), {
        configured: config.logDirConfigured,
      }),
    ),
    ...(options.audit ? [guarded(AUDIT_ITEM, () => checkAudit(config.repoRoot))] : []),
  ]);
  const backupItems = checkBackups(await listBackups(config.ops), now);
  const all = [...items, ...backupItems];
  return { ok: all.every((i) => i.status !== 'fail'), at: now.toISOString(), counts: countStatuses(all), items: all };
}
