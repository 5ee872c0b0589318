import { listBackups } from '../../ops/backup/index.ts';
import {
  type CheckItem,
  checkAudit,
  checkBackups,
  checkDisk,
  checkGateway,
  checkLogs,
  checkMemory,
  checkRedis,
  checkServices,
  guarded,
} from '../../ops/check/index.ts';
import type { CliConfig } from '../config.ts';

export interface CheckReport {
  readonly ok: boolean;
  readonly at: string;
  readonly items: readonly CheckItem[];
}

/**
 * `haddock check`: the spec's maintenance checklist (6.3.1.2), measured. `ok`
 * is false when an item fails; warnings do not fail the check.
 */
export async function checkCommand(
  config: CliConfig,
  options: { audit: boolean; countErrorLines: (since: Date) => Promise<Record<string, number>> },
  now = new Date(),
): Promise<CheckReport> {
  const items = await Promise.all([
    guarded('services healthy', () => checkServices(config.serviceUrls)),
    guarded('gateway up', () => checkGateway(config.gatewayUrl)),
    guarded('redis reachable', () => checkRedis(config.ops.redis)),
    guarded('disk space', () => checkDisk({ backups: config.ops.backupDir, logs: config.logDir })),
    guarded('host memory', () => checkMemory()),
    guarded('error lines in logs (24 h)', () =>
      checkLogs(config.logDir, () => options.countErrorLines(new Date(now.getTime() - 86_400_000))),
    ),
    ...(options.audit ? [guarded('dependency vulnerabilities (npm audit, production)', () => checkAudit(config.repoRoot))] : []),
  ]);
  const backupItems = checkBackups(await listBackups(config.ops), now);
  const all = [...items, ...backupItems];
  return { ok: all.every((i) => i.status !== 'fail'), at: now.toISOString(), items: all };
}
