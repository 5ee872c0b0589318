import { type BackupManifest, backupSucceeded } from '../backup/index.ts';
import { type Incident, minutesBetween } from '../incidents/model.ts';

export type KpiStatus = 'green' | 'amber' | 'red' | 'unknown';

/** One row of the scorecard: the spec's tables 6.6.1 and 6.8.3, measured. */
export interface KpiRow {
  readonly key: string;
  readonly name: string;
  readonly target: string;
  /** The measured value, in `unit`; null when there was nothing to measure. */
  readonly value: number | null;
  readonly unit: string;
  readonly display: string;
  readonly status: KpiStatus;
  readonly source: 'prometheus' | 'incidents' | 'backups';
  readonly note?: string;
}

/**
 * A target: `good` meets the spec's objective; `fair` is the amber band
 * (close, worth watching); anything else is red.
 */
export interface Threshold {
  readonly direction: 'below' | 'above';
  readonly good: number;
  readonly fair: number;
}

export function judge(value: number | null, threshold: Threshold): KpiStatus {
  if (value === null || Number.isNaN(value)) return 'unknown';
  if (threshold.direction === 'below') return value < threshold.good ? 'green' : value < threshold.fair ? 'amber' : 'red';
  return value >= threshold.good ? 'green' : value >= threshold.fair ? 'amber' : 'red';
}

/** The spec's objectives, with the amber band this platform uses (documented in the README). */
export const TARGETS = {
  availability: { direction: 'above', good: 99.9, fair: 99.5 },
  mean_response_ms: { direction: 'below', good: 200, fair: 300 },
  p99_response_ms: { direction: 'below', good: 1000, fair: 2000 },
  error_rate_percent: { direction: 'below', good: 1, fair: 2 },
  cpu_percent: { direction: 'below', good: 70, fair: 85 },
  memory_percent: { direction: 'below', good: 80, fair: 90 },
  mtta_minutes: { direction: 'below', good: 5, fair: 15 },
  mttr_minutes: { direction: 'below', good: 30, fair: 60 },
  proactive_percent: { direction: 'above', good: 80, fair: 60 },
  backup_age_hours: { direction: 'below', good: 26, fair: 50 },
  drill_age_days: { direction: 'below', good: 8, fair: 15 },
} as const satisfies Record<string, Threshold>;

function round(value: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

function mean(values: readonly number[]): number | null {
  return values.length === 0 ? null : values.reduce((a, b) => a + b, 0) / values.length;
}

/** MTTA, MTTR and the proactive detection rate over the incidents opened in the window. */
export function incidentKpis(incidents: readonly Incident[], since: Date): KpiRow[] {
  const inWindow = incidents.filter((i) => Date.parse(i.opened_at) >= since.getTime());
  const ack = inWindow.map((i) => minutesBetween(i.opened_at, i.acknowledged_at)).filter((m): m is number => m !== null);
  const repair = inWindow.map((i) => minutesBetween(i.opened_at, i.resolved_at)).filter((m): m is number => m !== null);
  const mtta = mean(ack);
  const mttr = mean(repair);
  const proactive =
    inWindow.length === 0 ? null : (100 * inWindow.filter((i) => i.source === 'monitoring').length) / inWindow.length;
  const count = `${inWindow.length} incident(s) in the window`;
  return [
    {
      key: 'mtta',
      name: 'Mean time to acknowledge (MTTA)',
      target: '< 5 min',
      value: mtta === null ? null : round(mtta, 1),
      unit: 'min',
      display: mtta === null ? 'no acknowledged incident' : `${round(mtta, 1)} min`,
      status: judge(mtta, TARGETS.mtta_minutes),
      source: 'incidents',
      note: count,
    },
    {
      key: 'mttr',
      name: 'Mean time to recovery (MTTR)',
      target: '< 30 min',
      value: mttr === null ? null : round(mttr, 1),
      unit: 'min',
      display: mttr === null ? 'no resolved incident' : `${round(mttr, 1)} min`,
      status: judge(mttr, TARGETS.mttr_minutes),
      source: 'incidents',
      note: count,
    },
    {
      key: 'proactive_detection',
      name: 'Proactive detection rate',
      target: '≥ 80%',
      value: proactive === null ? null : round(proactive, 1),
      unit: '%',
      display: proactive === null ? 'no incident' : `${round(proactive, 1)}%`,
      status: judge(proactive, TARGETS.proactive_percent),
      source: 'incidents',
      note: count,
    },
  ];
}

/** Age of the newest successful backup and of the newest passed restore drill. */
export function backupKpis(backups: readonly BackupManifest[], now: Date): KpiRow[] {
  // A backup whose restore drill failed is a failed backup, here as in the metrics.
  const newest = backups
    .filter(backupSucceeded)
    .reduce<string | null>((best, m) => (best === null || m.created_at > best ? m.created_at : best), null);
  const drills = backups.filter((m) => m.verification?.ok).map((m) => m.verification?.at as string);
  const lastDrill = drills.reduce<string | null>((best, at) => (best === null || at > best ? at : best), null);
  const ageHours = newest === null ? null : (now.getTime() - Date.parse(newest)) / 3_600_000;
  const drillDays = lastDrill === null ? null : (now.getTime() - Date.parse(lastDrill)) / 86_400_000;
  return [
    {
      key: 'backup_freshness',
      name: 'Last successful backup',
      target: '< 26 h (daily)',
      value: ageHours === null ? null : round(ageHours, 1),
      unit: 'h',
      display: ageHours === null ? 'no backup' : `${round(ageHours, 1)} h ago`,
      status: ageHours === null ? 'red' : judge(ageHours, TARGETS.backup_age_hours),
      source: 'backups',
    },
    {
      key: 'restore_drill',
      name: 'Last passed restore drill',
      target: '< 8 days',
      value: drillDays === null ? null : round(drillDays, 2),
      unit: 'd',
      display: drillDays === null ? 'never' : `${round(drillDays, 2)} days ago`,
      status: drillDays === null ? 'red' : judge(drillDays, TARGETS.drill_age_days),
      source: 'backups',
    },
  ];
}
