import { Ajv } from 'ajv';

/**
 * RFC 3339 date-time as Alertmanager writes it (Go's `time.Time`): `2026-11-26T10:00:00.123456789Z`,
 * `…+02:00`. Its "unset" `0001-01-01T00:00:00Z` matches too.
 */
export const RFC3339_PATTERN =
  '^\\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\\d|3[01])[Tt]([01]\\d|2[0-3]):[0-5]\\d:([0-5]\\d|60)(\\.\\d{1,9})?([Zz]|[+-]([01]\\d|2[0-3]):[0-5]\\d)$';

const stringMap = { type: 'object', additionalProperties: { type: 'string' } } as const;
const time = { type: 'string', pattern: RFC3339_PATTERN } as const;

/**
 * One alert of an Alertmanager webhook notification (format version 4), with
 * what Alertmanager always sends required: every field of its `Alert` has no
 * `omitempty`, and every Prometheus alert has an `alertname`. Extra fields are
 * tolerated (a newer Alertmanager may add some).
 */
export const WEBHOOK_ALERT_SCHEMA = {
  type: 'object',
  required: ['status', 'labels', 'annotations', 'startsAt', 'endsAt', 'generatorURL', 'fingerprint'],
  properties: {
    status: { type: 'string', enum: ['firing', 'resolved'] },
    labels: {
      ...stringMap,
      required: ['alertname'],
      properties: { alertname: { type: 'string', minLength: 1 } },
    },
    annotations: stringMap,
    startsAt: time,
    endsAt: time,
    generatorURL: { type: 'string' },
    fingerprint: { type: 'string', minLength: 1, maxLength: 128 },
  },
} as const;

/**
 * The Alertmanager webhook body, version 4
 * (https://prometheus.io/docs/alerting/latest/configuration/#webhook_config), at most `maxAlerts` alerts.
 * One schema for every receiver of the platform (the operations service, the local alert sink).
 */
export function webhookSchema(maxAlerts: number) {
  return {
    type: 'object',
    // `alerts` early: a body without it is told so first.
    required: [
      'version',
      'status',
      'alerts',
      'receiver',
      'groupKey',
      'groupLabels',
      'commonLabels',
      'commonAnnotations',
      'externalURL',
    ],
    properties: {
      version: { type: 'string', enum: ['4'] },
      groupKey: { type: 'string' },
      truncatedAlerts: { type: 'integer', minimum: 0 },
      status: { type: 'string', enum: ['firing', 'resolved'] },
      receiver: { type: 'string' },
      groupLabels: stringMap,
      commonLabels: stringMap,
      commonAnnotations: stringMap,
      externalURL: { type: 'string' },
      alerts: { type: 'array', maxItems: maxAlerts, items: WEBHOOK_ALERT_SCHEMA },
    },
  } as const;
}

export interface WebhookAlert {
  readonly status: 'firing' | 'resolved';
  readonly labels: Readonly<Record<string, string>> & { readonly alertname: string };
  readonly annotations: Readonly<Record<string, string>>;
  readonly startsAt: string;
  readonly endsAt: string;
  readonly generatorURL: string;
  readonly fingerprint: string;
}

export interface WebhookPayload {
  readonly version: '4';
  readonly groupKey: string;
  readonly truncatedAlerts?: number;
  readonly status: 'firing' | 'resolved';
  readonly receiver: string;
  readonly groupLabels: Readonly<Record<string, string>>;
  readonly commonLabels: Readonly<Record<string, string>>;
  readonly commonAnnotations: Readonly<Record<string, string>>;
  readonly externalURL: string;
  readonly alerts: readonly WebhookAlert[];
}

/** Alertmanager's "no end yet" time. */
export const ZERO_TIME = '0001-01-01T00:00:00Z';

/** True when an RFC 3339 text (already matching the pattern) names a real instant: no 30 February. */
function realTime(text: string): boolean {
  const ms = Date.parse(text);
  if (Number.isNaN(ms)) return false;
  // Date.parse rolls 2026-02-30 over to 2 March: the calendar day must survive the round trip.
  const [, y, m, d] = /^(\d{4})-(\d{2})-(\d{2})/.exec(text) ?? [];
  const day = new Date(Date.UTC(Number(y), Number(m) - 1, Number(d)));
  if (Number(y) < 100) day.setUTCFullYear(Number(y));
  return day.getUTCMonth() === Number(m) - 1 && day.getUTCDate() === Number(d);
}

const validators = new Map<number, ReturnType<Ajv['compile']>>();
const ajv = new Ajv({ allErrors: false, strict: false });

/**
 * Checks a webhook body against {@link webhookSchema} and its times against
 * the calendar: null when it is a well-formed notification, else what is
 * wrong (for logs and operators, never for the sender).
 */
export function webhookProblem(body: unknown, maxAlerts: number): string | null {
  let validate = validators.get(maxAlerts);
  if (validate === undefined) {
    validate = ajv.compile(webhookSchema(maxAlerts));
    validators.set(maxAlerts, validate);
  }
  if (!validate(body)) {
    const issue = validate.errors?.[0];
    return `${issue?.instancePath || 'body'} ${issue?.message ?? 'is invalid'}`;
  }
  const { alerts } = body as WebhookPayload;
  for (const [i, alert] of alerts.entries()) {
    if (!realTime(alert.startsAt)) return `/alerts/${i}/startsAt is not a real time`;
    if (!realTime(alert.endsAt)) return `/alerts/${i}/endsAt is not a real time`;
  }
  return null;
}
