import { type WebhookPayload, webhookProblem, webhookSchema, ZERO_TIME } from '../../lib/alertmanager/index.ts';
import { appError } from '../../lib/errors/index.ts';
import { FORBIDDEN_TEXT_CHARACTERS } from '../../lib/text/index.ts';
import type { IncidentAlert } from './model.ts';
import { normalizeSeverity } from './model.ts';

export type { WebhookPayload } from '../../lib/alertmanager/index.ts';

/** Alerts in one notification, at most: each is a Redis transaction, and Alertmanager groups far fewer. */
export const MAX_WEBHOOK_ALERTS = 1_000;

/** The body schema of the webhook route: the one the parser checks too. */
export const WEBHOOK_BODY_SCHEMA = webhookSchema(MAX_WEBHOOK_ALERTS);

/**
 * A service name an incident may be filed under (it becomes a Redis hash field, a report line, a CLI filter):
 * letters, digits, `_` and `-`, starting with a letter or digit, 63 characters at most.
 */
export const SAFE_SERVICE = /^[a-z0-9][a-z0-9_-]{0,62}$/i;

/** Where an alert whose `service` label is not a safe name is filed; the label is kept, escaped, beside it. */
export const UNKNOWN_SERVICE = 'unknown';

export interface ParsedAlert {
  readonly alert: IncidentAlert;
  readonly service: string;
  readonly title: string;
  /** The alert's service label, escaped, when it was not a safe name and `service` is the placeholder. */
  readonly serviceLabel?: string;
}

/**
 * A label value as printable text: at most 200 characters, JSON-quoted, and
 * the control and bidirectional characters JSON leaves as they are escaped too.
 */
export function escapeLabel(value: string): string {
  const short = [...value].slice(0, 200).join('');
  return JSON.stringify(short).replace(
    FORBIDDEN_TEXT_CHARACTERS,
    (c) => `\\u${(c.codePointAt(0) ?? 0).toString(16).padStart(4, '0')}`,
  );
}

/** An incident title from an alert: one line, no control or direction characters, 200 characters at most. */
function titleOf(text: string): string {
  const clean = text.replace(FORBIDDEN_TEXT_CHARACTERS, ' ').replace(/\s+/g, ' ').trim();
  return [...clean].slice(0, 200).join('') || 'Alert';
}

/**
 * The service an alert is about: its `service` label, else its job without the
 * `haddock-` prefix, else `platform`; a value that is not a {@link SAFE_SERVICE}
 * name is filed under {@link UNKNOWN_SERVICE}, with the original escaped.
 */
export function serviceOf(labels: Readonly<Record<string, string>>): { service: string; label?: string } {
  const named = labels.service ?? labels.job?.replace(/^haddock-/, '') ?? 'platform';
  return SAFE_SERVICE.test(named) ? { service: named } : { service: UNKNOWN_SERVICE, label: escapeLabel(named) };
}

/**
 * Turns a webhook body into alerts for the incident store. The body must be
 * Alertmanager's (version 4, see `webhookSchema`), times real RFC 3339
 * instants; anything else is ALERT_PAYLOAD_INVALID and nothing is recorded.
 * A well-formed alert is never dropped for a label's value.
 */
export function parseWebhook(body: unknown): ParsedAlert[] {
  const problem = webhookProblem(body, MAX_WEBHOOK_ALERTS);
  if (problem !== null) throw appError('ALERT_PAYLOAD_INVALID', { detail: `not an Alertmanager webhook payload: ${problem}` });
  return (body as WebhookPayload).alerts.map((raw) => {
    const { labels, annotations } = raw;
    const { alertname } = labels;
    const { service, label } = serviceOf(labels);
    const startsAt = raw.startsAt !== ZERO_TIME ? raw.startsAt : new Date().toISOString();
    const alert: IncidentAlert = {
      fingerprint: raw.fingerprint,
      alertname,
      status: raw.status,
      severity: normalizeSeverity(labels.severity),
      labels,
      ...(annotations.summary ? { summary: annotations.summary } : {}),
      starts_at: startsAt,
      ...(raw.endsAt !== ZERO_TIME && raw.status === 'resolved' ? { ends_at: raw.endsAt } : {}),
    };
    const title = titleOf(annotations.summary || `${alertname} on ${service}`);
    return { alert, service, title, ...(label === undefined ? {} : { serviceLabel: label }) };
  });
}
