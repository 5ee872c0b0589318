/** One alert attached to an incident, keyed by Alertmanager's fingerprint. */
export interface IncidentAlert {
  readonly fingerprint: string;
  readonly alertname: string;
  readonly status: 'firing' | 'resolved';
  readonly severity: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly summary?: string;
  readonly starts_at: string;
  readonly ends_at?: string;
}

export type TimelineKind =
  | 'opened'
  | 'alert_firing'
  | 'alert_resolved'
  | 'acknowledged'
  | 'note'
  | 'resolved'
  | 'reopened'
  | 'maintenance';

export interface TimelineEvent {
  readonly at: string;
  readonly kind: TimelineKind;
  readonly text: string;
  readonly by?: string;
}

export type IncidentStatus = 'open' | 'acknowledged' | 'resolved';

/** An incident as stored (JSON in Redis, so it is backed up with the rest). */
export interface Incident {
  readonly id: string;
  readonly title: string;
  readonly service: string;
  /**
   * The alert's `service` label, JSON-escaped and truncated, when it was not a safe service name and the
   * incident is filed under `unknown` instead.
   */
  readonly service_label?: string;
  readonly severity: 'critical' | 'warning' | 'info';
  readonly impact: 'high' | 'medium' | 'low';
  readonly status: IncidentStatus;
  /** `monitoring` when an alert opened it: the spec's proactive detection. */
  readonly source: 'monitoring' | 'manual';
  readonly opened_at: string;
  readonly opened_by: string;
  readonly acknowledged_at?: string;
  readonly acknowledged_by?: string;
  readonly resolved_at?: string;
  readonly resolved_by?: string;
  readonly alerts: readonly IncidentAlert[];
  readonly timeline: readonly TimelineEvent[];
}

export const SEVERITIES = ['critical', 'warning', 'info'] as const;

/** The spec's impact scale from an alert severity. */
export function impactOf(severity: Incident['severity']): Incident['impact'] {
  return severity === 'critical' ? 'high' : severity === 'warning' ? 'medium' : 'low';
}

export function normalizeSeverity(value: string | undefined): Incident['severity'] {
  return (SEVERITIES as readonly string[]).includes(value ?? '') ? (value as Incident['severity']) : 'warning';
}

/** Minutes between two ISO times, or null. */
export function minutesBetween(from: string | undefined, to: string | undefined): number | null {
  if (!from || !to) return null;
  return (Date.parse(to) - Date.parse(from)) / 60_000;
}
