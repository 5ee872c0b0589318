import { appError } from '../../lib/errors/index.ts';
import type { IncidentAlert } from './model.ts';
import { normalizeSeverity } from './model.ts';

/** The part of Alertmanager's webhook payload (version 4) this platform reads. */
export interface WebhookPayload {
  readonly version?: string;
  readonly status?: string;
  readonly alerts: readonly {
    readonly status: string;
    readonly labels?: Readonly<Record<string, string>>;
    readonly annotations?: Readonly<Record<string, string>>;
    readonly startsAt?: string;
    readonly endsAt?: string;
    readonly fingerprint?: string;
  }[];
}

export interface ParsedAlert {
  readonly alert: IncidentAlert;
  readonly service: string;
  readonly title: string;
}

/** Alertmanager's "no end yet" time. */
const ZERO_TIME = '0001-01-01T00:00:00Z';

/** The service an alert is about: its `service` label, else its job without the `haddock-` prefix. */
export function serviceOf(labels: Readonly<Record<string, string>>): string {
  return labels.service ?? labels.job?.replace(/^haddock-/, '') ?? 'platform';
}

/** Turns a webhook payload into alerts for the incident store; throws ALERT_PAYLOAD_INVALID on a payload that is not one. */
export function parseWebhook(payload: WebhookPayload): ParsedAlert[] {
  if (!Array.isArray(payload.alerts)) throw appError('ALERT_PAYLOAD_INVALID', { detail: 'payload has no alerts array' });
  return payload.alerts.map((raw, i) => {
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
      throw appError('ALERT_PAYLOAD_INVALID', { detail: `alert ${i} is not an object` });
    }
    const labels = raw.labels ?? {};
    const annotations = raw.annotations ?? {};
    const alertname = labels.alertname ?? 'UnnamedAlert';
    const startsAt = raw.startsAt && raw.startsAt !== ZERO_TIME ? raw.startsAt : new Date().toISOString();
    const alert: IncidentAlert = {
      fingerprint: raw.fingerprint ?? `${alertname}:${JSON.stringify(labels)}`,
      alertname,
      status: raw.status === 'resolved' ? 'resolved' : 'firing',
      severity: normalizeSeverity(labels.severity),
      labels,
      ...(annotations.summary ? { summary: annotations.summary } : {}),
      starts_at: startsAt,
      ...(raw.endsAt && raw.endsAt !== ZERO_TIME && raw.status === 'resolved' ? { ends_at: raw.endsAt } : {}),
    };
    return { alert, service: serviceOf(labels), title: annotations.summary ?? `${alertname} on ${serviceOf(labels)}` };
  });
}
