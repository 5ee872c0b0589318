import type { FastifyInstance } from 'fastify';
import { webhookProblem } from '../../lib/alertmanager/index.ts';
import { appError } from '../../lib/errors/index.ts';
import { createHttpApp } from '../../lib/http/index.ts';
import { AlertLog, type AlertRecord } from './alert-log.ts';
import type { AlertSinkConfig } from './config.ts';
import { ALERT_LIST_SCHEMA, MAX_SINK_ALERTS, WEBHOOK_SCHEMA, type WebhookPayload } from './schemas.ts';

export interface AlertSinkOptions {
  /** false silences the JSON logger (tests). */
  readonly logger?: boolean;
}

function toRecords(payload: WebhookPayload, receivedAt: string): AlertRecord[] {
  return payload.alerts.map((alert) => ({
    receivedAt,
    status: alert.status,
    alertname: alert.labels.alertname ?? null,
    labels: alert.labels,
    annotations: alert.annotations,
    startsAt: alert.startsAt,
    endsAt: alert.endsAt,
    fingerprint: alert.fingerprint,
  }));
}

/**
 * The local webhook receiver of Alertmanager, so that no alert is dropped
 * silently before a real receiver (the operations service, Slack…) exists:
 * `POST /alerts` records every alert of a notification, `GET /alerts` lists
 * the newest. It never listens; `server.ts` does.
 */
export async function buildAlertSink(config: AlertSinkConfig, options: AlertSinkOptions = {}): Promise<FastifyInstance> {
  const app = await createHttpApp({
    service: 'alert-sink',
    config,
    logger: options.logger,
    bodyLimitBytes: config.bodyLimitBytes,
    docs: false,
  });
  const alerts = new AlertLog(config.file, config.memoryLimit);

  app.post<{ Body: WebhookPayload }>(
    '/alerts',
    { schema: { body: WEBHOOK_SCHEMA, response: { 200: { type: 'object', properties: { received: { type: 'integer' } } } } } },
    async (request) => {
      // The schema has checked the shape; the shared check adds the calendar (no 30 February).
      const problem = webhookProblem(request.body, MAX_SINK_ALERTS);
      if (problem !== null) throw appError('ALERT_PAYLOAD_INVALID', { detail: problem });
      const records = toRecords(request.body, new Date().toISOString());
      await alerts.append(records);
      for (const record of records) {
        request.log.info(
          { alertname: record.alertname, status: record.status, fingerprint: record.fingerprint },
          'alert received',
        );
      }
      return { received: records.length };
    },
  );
  app.get('/alerts', { schema: { response: { 200: ALERT_LIST_SCHEMA } } }, async () => alerts.list());
  app.get('/alerts/health/live', { config: { quietLog: true } }, async () => ({ message: 'alive' }));
  return app;
}
