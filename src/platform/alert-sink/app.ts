import Fastify, { type FastifyBaseLogger, type FastifyError, type FastifyInstance } from 'fastify';
import { ERRORS, errorBody } from '../../lib/errors/index.ts';
import { describeIssue, validatorCompiler } from '../../lib/http/validation.ts';
import { createLogger, registerRequestLogging } from '../../lib/logging/index.ts';
import { AlertLog, type AlertRecord } from './alert-log.ts';
import type { AlertSinkConfig } from './config.ts';
import { ALERT_LIST_SCHEMA, WEBHOOK_SCHEMA, type WebhookPayload } from './schemas.ts';

export interface AlertSinkOptions {
  /** false silences the JSON logger (tests). */
  readonly logger?: boolean;
}

const FASTIFY_ERRORS: Record<string, keyof typeof ERRORS> = {
  FST_ERR_CTP_INVALID_JSON_BODY: 'INVALID_JSON',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'INVALID_JSON',
  FST_ERR_CTP_BODY_TOO_LARGE: 'BODY_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'VALIDATION_FAILED',
};

function toRecords(payload: WebhookPayload, receivedAt: string): AlertRecord[] {
  return payload.alerts.map((alert) => ({
    receivedAt,
    status: alert.status,
    alertname: alert.labels.alertname ?? null,
    labels: alert.labels,
    annotations: alert.annotations ?? {},
    startsAt: alert.startsAt,
    endsAt: alert.endsAt ?? null,
    fingerprint: alert.fingerprint ?? null,
  }));
}

/**
 * The local webhook receiver of Alertmanager, so that no alert is dropped
 * silently before a real receiver (the operations service, Slack…) exists:
 * `POST /alerts` records every alert of a notification, `GET /alerts` lists
 * the newest. It never listens; `server.ts` does.
 */
export async function buildAlertSink(config: AlertSinkConfig, options: AlertSinkOptions = {}): Promise<FastifyInstance> {
  const log =
    options.logger === false
      ? undefined
      : createLogger({ service: 'alert-sink', level: config.logLevel, file: config.logFile, stdout: config.logStdout });
  const app = Fastify({
    ...(log === undefined ? { logger: false } : { loggerInstance: log.logger as FastifyBaseLogger }),
    disableRequestLogging: true,
    bodyLimit: config.bodyLimitBytes,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
  });
  app.setValidatorCompiler(validatorCompiler);
  app.removeContentTypeParser('text/plain');
  if (log !== undefined) app.addHook('onClose', async () => log.close());
  registerRequestLogging(app);
  const alerts = new AlertLog(config.file, config.memoryLimit);

  app.setErrorHandler((error: FastifyError, request, reply) => {
    if (error.validation) {
      const issue = error.validation[0];
      const message = issue === undefined ? ERRORS.VALIDATION_FAILED.message : describeIssue(issue, 'body');
      return reply.code(400).send(errorBody(message));
    }
    const mapped = error.code === undefined ? undefined : FASTIFY_ERRORS[error.code];
    if (mapped !== undefined) return reply.code(ERRORS[mapped].status).send(errorBody(ERRORS[mapped].message));
    if (error instanceof SyntaxError) return reply.code(400).send(errorBody(ERRORS.INVALID_JSON.message));
    request.log.error({ err: error }, 'unhandled error');
    return reply.code(500).send(errorBody(ERRORS.INTERNAL.message));
  });
  app.setNotFoundHandler((_request, reply) => {
    reply.code(404).send(errorBody(ERRORS.ROUTE_NOT_FOUND.message));
  });

  app.post<{ Body: WebhookPayload }>(
    '/alerts',
    { schema: { body: WEBHOOK_SCHEMA, response: { 200: { type: 'object', properties: { received: { type: 'integer' } } } } } },
    async (request) => {
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
