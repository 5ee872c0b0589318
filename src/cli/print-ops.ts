import type { BackupManifest, PrunePlan, RestoreReport } from '../ops/backup/index.ts';
import type { CheckItem } from '../ops/check/index.ts';
import type { Incident } from '../ops/incidents/index.ts';
import type { KpiStatus } from '../ops/kpi/index.ts';
import type { Scorecard } from '../ops/kpi/scorecard.ts';
import type { MaintenanceWindow } from '../ops/maintenance/index.ts';
import type { CheckReport } from './commands/check.ts';
import type { CleanReport } from './commands/clean.ts';
import { green, grey, red, table, yellow } from './print.ts';

function size(bytes: number): string {
  return bytes < 1_048_576 ? `${(bytes / 1024).toFixed(1)} KiB` : `${(bytes / 1_048_576).toFixed(1)} MiB`;
}

function drill(m: BackupManifest): string {
  if (m.verification === undefined) return grey('not drilled');
  return m.verification.ok ? green(`passed ${m.verification.at.slice(0, 16).replace('T', ' ')}`) : red('FAILED');
}

function types(byType: Readonly<Record<string, number>>): string {
  return Object.entries(byType)
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([t, n]) => `${n} ${t}`)
    .join(', ');
}

export function printBackup(m: BackupManifest): string {
  const lines = [
    `backup   ${m.id} (${m.kind})`,
    `file     ${m.file}, ${size(m.bytes)}, sha256 ${m.sha256.slice(0, 16)}…`,
    `source   ${m.source}, Redis ${m.redis_version}, prefix ${m.prefix}`,
    `keys     ${m.keys.total} (${types(m.keys.by_type)})`,
    `took     ${m.duration_ms} ms`,
    `drill    ${drill(m)}`,
  ];
  for (const problem of m.verification?.problems ?? []) lines.push(red(`  - ${problem}`));
  return lines.join('\n');
}

export function printBackups(list: readonly BackupManifest[]): string {
  if (list.length === 0) return 'no backup yet: take one with `haddock backup`';
  return table([
    ['ID', 'KIND', 'CREATED', 'SIZE', 'KEYS', 'DRILL'],
    ...list.map((m) => [
      m.id,
      m.kind,
      m.created_at.slice(0, 19).replace('T', ' '),
      size(m.bytes),
      String(m.keys.total),
      drill(m),
    ]),
  ]);
}

export function printPrune(plan: PrunePlan, dryRun: boolean): string {
  const verb = dryRun ? 'would remove' : 'removed';
  const lines = [`${verb} ${plan.remove.length} backup(s), kept ${plan.keep.length}`];
  for (const m of plan.remove) lines.push(`  - ${m.id}`);
  if (plan.protected) lines.push(`last verified-good backup, always kept: ${plan.protected}`);
  return lines.join('\n');
}

export function printRestore(r: RestoreReport): string {
  return [
    green(`restored ${r.restored} in ${r.duration_ms} ms`),
    `safety backup of the previous state: ${r.safety_backup}`,
    `keys: ${r.added} added, ${r.changed} changed, ${r.removed} removed, ${r.unchanged} unchanged; ${r.keys_after} now`,
  ].join('\n');
}

function statusColour(status: Incident['status']): string {
  return status === 'resolved' ? green(status) : status === 'acknowledged' ? yellow(status) : red(status);
}

export function printIncidents(list: readonly Incident[]): string {
  if (list.length === 0) return 'no incident';
  return table([
    ['ID', 'STATUS', 'SEVERITY', 'SERVICE', 'OPENED', 'SOURCE', 'TITLE'],
    ...list.map((i) => [
      i.id,
      statusColour(i.status),
      i.severity,
      i.service,
      i.opened_at.slice(0, 16).replace('T', ' '),
      i.source,
      i.title,
    ]),
  ]);
}

export function printIncident(i: Incident): string {
  const lines = [
    `${i.id}  ${statusColour(i.status)}  ${i.severity}  ${i.service}`,
    i.title,
    `opened ${i.opened_at} by ${i.opened_by} (${i.source})`,
    ...(i.acknowledged_at ? [`acknowledged ${i.acknowledged_at} by ${i.acknowledged_by}`] : []),
    ...(i.resolved_at ? [`resolved ${i.resolved_at} by ${i.resolved_by}`] : []),
    '',
    'timeline:',
    ...[...i.timeline]
      .sort((a, b) => (a.at < b.at ? -1 : 1))
      .map((e) => `  ${e.at.slice(0, 19).replace('T', ' ')}  ${e.kind.padEnd(14)} ${e.text}`),
  ];
  if (i.alerts.length > 0) {
    lines.push('', 'alerts:');
    for (const a of i.alerts)
      lines.push(`  ${a.alertname.padEnd(24)} ${a.status === 'firing' ? red('firing') : green('resolved')}  ${a.severity}`);
  }
  return lines.join('\n');
}

function kpiStatus(status: KpiStatus): string {
  return { green: green('green'), amber: yellow('amber'), red: red('red'), unknown: grey('unknown') }[status];
}

export function printScorecard(card: Scorecard): string {
  const lines = [
    `KPIs over ${card.window} (${card.from.slice(0, 16).replace('T', ' ')} → ${card.to.slice(0, 16).replace('T', ' ')} UTC)`,
    '',
    table([
      ['INDICATOR', 'TARGET', 'MEASURED', 'STATUS'],
      ...card.rows.map((r) => [r.name, r.target, r.display, kpiStatus(r.status)]),
    ]),
  ];
  // Why Prometheus rows are unknown (not configured, unreachable and the error), once per distinct reason.
  const reasons = new Set(
    card.rows.filter((r) => r.source === 'prometheus' && r.status === 'unknown' && r.note).map((r) => `${r.display}: ${r.note}`),
  );
  if (reasons.size > 0) lines.push('', ...[...reasons].map((reason) => grey(reason)));
  if (card.maintenance.length > 0) {
    lines.push('', 'maintenance windows in the period:');
    for (const m of card.maintenance) lines.push(`  ${m.start} → ${m.end}  ${m.reason}`);
  }
  return lines.join('\n');
}

/** The scorecard as a Markdown table, for reports. */
export function scorecardMarkdown(card: Scorecard): string {
  const icon = { green: '🟢', amber: '🟡', red: '🔴', unknown: '⚪' } as const;
  return [
    `## KPIs — ${card.window} (${card.from} → ${card.to})`,
    '',
    '| Indicator | Target | Measured | Status |',
    '|---|---|---|---|',
    ...card.rows.map((r) => `| ${r.name} | ${r.target} | ${r.display} | ${icon[r.status]} ${r.status} |`),
    ...(card.maintenance.length > 0
      ? ['', ...card.maintenance.map((m) => `- Maintenance ${m.start} → ${m.end}: ${m.reason}`)]
      : []),
    '',
  ].join('\n');
}

function checkStatus(status: CheckItem['status']): string {
  return { pass: green('pass'), warn: yellow('warn'), fail: red('FAIL'), skip: grey('skip') }[status];
}

export function printCheck(report: CheckReport): string {
  const { pass, warn, fail, skip } = report.counts;
  const counts = `${pass} passed, ${warn} warning(s), ${fail} failed${skip > 0 ? `, ${skip} skipped (not applicable here)` : ''}`;
  return [
    table([['CHECK', 'STATUS', 'DETAIL'], ...report.items.map((i) => [i.name, checkStatus(i.status), i.detail])]),
    '',
    report.ok ? green(`maintenance check passed: ${counts}`) : red(`maintenance check FAILED: ${counts}`),
  ].join('\n');
}

export function printClean(report: CleanReport): string {
  const verb = report.dry_run ? 'would remove' : 'removed';
  const section = (what: string, items: readonly string[]) => [
    `${verb} ${items.length} ${what}`,
    ...items.map((x) => `  - ${x}`),
  ];
  return [
    ...section('backup(s)', report.backups_removed),
    ...(report.backup_protected ? [`  (kept the last verified-good backup ${report.backup_protected})`] : []),
    ...(report.log_retention_skipped === undefined
      ? section('rotated log file(s)', report.log_files_removed)
      : [`log retention skipped: ${report.log_retention_skipped}`]),
    ...section('resolved incident(s)', report.incidents_removed),
  ].join('\n');
}

export function printMaintenance(list: readonly MaintenanceWindow[], now = new Date()): string {
  if (list.length === 0) return 'no maintenance window';
  const iso = now.toISOString();
  return table([
    ['ID', 'STATE', 'START', 'END', 'BY', 'REASON'],
    ...list.map((w) => [
      w.id.slice(0, 8),
      w.end > iso && w.start <= iso ? yellow('active') : grey('ended'),
      w.start.slice(0, 16),
      w.end.slice(0, 16),
      w.by,
      w.reason,
    ]),
  ]);
}

export function printTestAlert(result: { alertname: string; receivers: readonly string[] }): string {
  return [
    green(`sent ${result.alertname} to Alertmanager; it resolves by itself in 2 minutes`),
    `receivers configured: ${result.receivers.length > 0 ? result.receivers.join(', ') : 'none'}`,
  ].join('\n');
}
