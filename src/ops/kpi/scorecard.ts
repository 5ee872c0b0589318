import type { BackupManifest } from '../backup/index.ts';
import type { Incident } from '../incidents/model.ts';
import type { PrometheusClient } from '../prometheus/index.ts';
import { backupKpis, incidentKpis, type KpiRow } from './index.ts';
import { parseWindow, prometheusKpis } from './prometheus.ts';

export interface Scorecard {
  readonly window: string;
  readonly from: string;
  readonly to: string;
  readonly rows: readonly KpiRow[];
  /** Maintenance windows overlapping the period, so readers know why figures moved. */
  readonly maintenance: readonly { readonly start: string; readonly end: string; readonly reason: string }[];
}

export interface ScorecardInputs {
  readonly window: string;
  readonly now: Date;
  readonly prometheus?: PrometheusClient;
  readonly incidents: readonly Incident[];
  readonly backups: readonly BackupManifest[];
  readonly maintenance?: Scorecard['maintenance'];
}

/** The spec's KPI tables (6.6.1 and 6.8.3) measured over one window. */
export async function buildScorecard(input: ScorecardInputs): Promise<Scorecard> {
  const window = parseWindow(input.window);
  const from = new Date(input.now.getTime() - window.ms);
  const rows = [
    ...(await prometheusKpis(input.prometheus, window.promql, input.now)),
    ...incidentKpis(input.incidents, from),
    ...backupKpis(input.backups, input.now),
  ];
  const maintenance = (input.maintenance ?? []).filter((m) => m.end >= from.toISOString() && m.start <= input.now.toISOString());
  return { window: window.promql, from: from.toISOString(), to: input.now.toISOString(), rows, maintenance };
}
