const stringMap = { type: 'object', additionalProperties: { type: 'string' } } as const;

/** One alert of an Alertmanager webhook notification (format version 4). */
export const WEBHOOK_ALERT_SCHEMA = {
  type: 'object',
  required: ['status', 'labels', 'startsAt'],
  properties: {
    status: { type: 'string', enum: ['firing', 'resolved'] },
    labels: stringMap,
    annotations: stringMap,
    startsAt: { type: 'string', minLength: 1, maxLength: 64 },
    endsAt: { type: 'string', maxLength: 64 },
    generatorURL: { type: 'string' },
    fingerprint: { type: 'string', maxLength: 128 },
  },
} as const;

/** The Alertmanager webhook body: https://prometheus.io/docs/alerting/latest/configuration/#webhook_config */
export const WEBHOOK_SCHEMA = {
  type: 'object',
  required: ['version', 'status', 'alerts'],
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
    alerts: { type: 'array', maxItems: 10_000, items: WEBHOOK_ALERT_SCHEMA },
  },
} as const;

export interface WebhookAlert {
  readonly status: 'firing' | 'resolved';
  readonly labels: Record<string, string>;
  readonly annotations?: Record<string, string>;
  readonly startsAt: string;
  readonly endsAt?: string;
  readonly fingerprint?: string;
}

export interface WebhookPayload {
  readonly version: '4';
  readonly status: 'firing' | 'resolved';
  readonly alerts: readonly WebhookAlert[];
}

const RECORD_SCHEMA = {
  type: 'object',
  properties: {
    receivedAt: { type: 'string' },
    status: { type: 'string' },
    alertname: { type: ['string', 'null'] },
    labels: stringMap,
    annotations: stringMap,
    startsAt: { type: 'string' },
    endsAt: { type: ['string', 'null'] },
    fingerprint: { type: ['string', 'null'] },
  },
} as const;

export const ALERT_LIST_SCHEMA = { type: 'array', items: RECORD_SCHEMA } as const;
