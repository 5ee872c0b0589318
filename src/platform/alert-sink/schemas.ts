import { webhookSchema } from '../../lib/alertmanager/index.ts';

export type { WebhookAlert, WebhookPayload } from '../../lib/alertmanager/index.ts';

const stringMap = { type: 'object', additionalProperties: { type: 'string' } } as const;

/** Alerts in one notification, at most: the sink only appends them to a file. */
export const MAX_SINK_ALERTS = 10_000;

/** The Alertmanager webhook body, the same schema the operations service checks. */
export const WEBHOOK_SCHEMA = webhookSchema(MAX_SINK_ALERTS);

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
