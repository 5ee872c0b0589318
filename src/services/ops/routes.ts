import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Authenticator } from '../../lib/auth/index.ts';
import { appError } from '../../lib/errors/index.ts';
import { errorResponses } from '../../lib/http/index.ts';
import { MULTI_LINE_TEXT, SINGLE_LINE_TEXT } from '../../lib/http/schemas.ts';
import { listBackups, runScheduledBackup, takeBackup } from '../../ops/backup/index.ts';
import {
  type IncidentStore,
  parseWebhook,
  renderIncidentReport,
  WEBHOOK_BODY_SCHEMA,
  type WebhookPayload,
} from '../../ops/incidents/index.ts';
import { WINDOW_PATTERN } from '../../ops/kpi/prometheus.ts';
import { buildScorecard } from '../../ops/kpi/scorecard.ts';
import type { MaintenanceStore } from '../../ops/maintenance/index.ts';
import type { PrometheusClient } from '../../ops/prometheus/index.ts';
import type { OpsServiceConfig } from './config.ts';

export interface OpsRouteOptions {
  readonly config: OpsServiceConfig;
  readonly incidents: IncidentStore;
  readonly maintenance: MaintenanceStore;
  readonly prometheus: PrometheusClient | undefined;
  readonly auth: Authenticator;
  /** Called after a backup or drill so the metrics follow. */
  readonly onBackupsChanged: () => Promise<void>;
}

const tags = ['operations'];
const security = [{ token: [] }];
const INCIDENT_ID = {
  type: 'object',
  properties: { id: { type: 'string', pattern: '^INC-\\d{4}-\\d{3,6}$' } },
  required: ['id'],
} as const;
const BY = { ...SINGLE_LINE_TEXT, minLength: 1, maxLength: 64 } as const;

/** Who acts: the name given, else the role of the credential. */
function actor(request: FastifyRequest, by: string | undefined): string {
  return by ?? (request.principal?.role === 'admin' ? 'admin' : (request.principal?.userId ?? 'unknown'));
}

export async function opsRoutes(app: FastifyInstance, options: OpsRouteOptions): Promise<void> {
  const { config, incidents, maintenance, prometheus, auth } = options;

  // Alertmanager's webhook: its token (ALERT_WEBHOOK_TOKEN) or an admin key.
  const requireWebhook = async (request: FastifyRequest) => {
    const header = request.headers.authorization ?? '';
    const token = header.replace(/^bearer\s+/i, '');
    if (config.alertWebhookToken !== undefined && token === config.alertWebhookToken) return;
    await auth.requireAdmin.call(app, request, undefined as never);
  };

  app.post<{ Body: WebhookPayload }>(
    '/ops/alerts',
    {
      onRequest: requireWebhook,
      bodyLimit: 1_048_576,
      // A body that is not Alertmanager's is ALERT_PAYLOAD_INVALID, whatever part of the schema it fails.
      attachValidation: true,
      schema: {
        tags,
        summary: "Alertmanager's webhook: firing alerts open or join incidents, resolved ones close them",
        description:
          "Alertmanager's webhook payload, version 4, as it always sends it; anything else is a 400 and opens nothing. " +
          'An alert whose `service` label is not a safe name is filed under `unknown`, the label kept escaped.',
        security,
        body: WEBHOOK_BODY_SCHEMA,
        response: {
          200: {
            type: 'object',
            properties: { received: { type: 'integer' }, incidents: { type: 'array', items: { type: 'string' } } },
          },
          ...errorResponses(400, 401, 403, 503),
        },
      },
    },
    async (request) => {
      if (request.validationError !== undefined) {
        request.log.warn({ problem: request.validationError.message }, 'alertmanager webhook refused');
        throw appError('ALERT_PAYLOAD_INVALID', { cause: request.validationError });
      }
      const touched = new Set<string>();
      // The parser checks the body again (and the calendar): it is the one parser, whoever calls it.
      const alerts = parseWebhook(request.body);
      for (const { alert, service, title, serviceLabel } of alerts) {
        // `haddock alert test` proves the notification chain; it is not an incident.
        if (alert.labels.test === 'true') continue;
        const incident = await incidents.recordAlert(alert, service, title, serviceLabel);
        if (incident !== null) touched.add(incident.id);
      }
      request.log.info({ received: alerts.length, incidents: [...touched] }, 'alertmanager webhook');
      return { received: alerts.length, incidents: [...touched] };
    },
  );

  app.get(
    '/ops/incidents',
    { onRequest: auth.requireAdmin, schema: { tags, summary: 'Every incident, newest first', security } },
    async () => incidents.list(),
  );

  app.post<{ Body: { title: string; service: string; severity?: 'critical' | 'warning' | 'info'; by?: string } }>(
    '/ops/incidents',
    {
      onRequest: auth.requireAdmin,
      schema: {
        tags,
        summary: 'Open an incident by hand',
        security,
        body: {
          type: 'object',
          properties: {
            title: { ...SINGLE_LINE_TEXT, minLength: 1, maxLength: 200 },
            service: { type: 'string', pattern: '^[a-z0-9-]{1,32}$' },
            severity: { type: 'string', enum: ['critical', 'warning', 'info'] },
            by: BY,
          },
          required: ['title', 'service'],
        },
      },
    },
    async (request, reply) => {
      const { title, service, severity, by } = request.body;
      reply.code(201);
      return incidents.open({ title, service, severity: severity ?? 'warning', by: actor(request, by) });
    },
  );

  app.get<{ Params: { id: string } }>(
    '/ops/incidents/:id',
    { onRequest: auth.requireAdmin, schema: { tags, summary: 'One incident with its timeline', security, params: INCIDENT_ID } },
    async (request) => incidents.get(request.params.id),
  );

  for (const action of ['ack', 'note', 'resolve'] as const) {
    app.post<{ Params: { id: string }; Body: { by?: string; text?: string } | undefined }>(
      `/ops/incidents/:id/${action}`,
      {
        onRequest: auth.requireAdmin,
        schema: {
          tags,
          summary: {
            ack: 'Acknowledge an incident',
            note: "Add a note to an incident's timeline",
            resolve: 'Resolve an incident',
          }[action],
          security,
          params: INCIDENT_ID,
          body: {
            type: ['object', 'null'],
            properties: { by: BY, text: { ...MULTI_LINE_TEXT, minLength: 1, maxLength: 2_000 } },
            ...(action === 'note' ? { required: ['text'] } : {}),
          },
        },
      },
      async (request) => {
        const id = request.params.id;
        const by = actor(request, request.body?.by);
        const text = request.body?.text;
        if (action === 'ack') return incidents.acknowledge(id, by);
        if (action === 'note') return incidents.note(id, text as string, by);
        return incidents.resolve(id, by, text);
      },
    );
  }

  app.get<{ Params: { id: string }; Querystring: { lang?: 'fr' | 'en' } }>(
    '/ops/incidents/:id/report',
    {
      onRequest: auth.requireAdmin,
      schema: {
        tags,
        summary: 'The incident report and post-incident review, as Markdown',
        security,
        params: INCIDENT_ID,
        querystring: { type: 'object', properties: { lang: { type: 'string', enum: ['fr', 'en'] } } },
      },
    },
    async (request, reply) => {
      const incident = await incidents.get(request.params.id);
      reply.type('text/markdown; charset=utf-8');
      return renderIncidentReport(incident, request.query.lang ?? 'fr');
    },
  );

  app.get<{ Querystring: { since?: string } }>(
    '/ops/kpi',
    {
      onRequest: auth.requireAdmin,
      // Any bad window, whatever rule it breaks (pattern here, zero in parseWindow), is the one WINDOW_INVALID.
      attachValidation: true,
      schema: {
        tags,
        summary: "The spec's KPIs measured over a window, with target and status",
        security,
        querystring: {
          type: 'object',
          properties: { since: { type: 'string', pattern: WINDOW_PATTERN, description: '1 to 9999 m, h or d; default 24h' } },
        },
        response: errorResponses(400, 401, 403, 503),
      },
    },
    async (request) => {
      if (request.validationError !== undefined) throw appError('WINDOW_INVALID', { cause: request.validationError });
      return buildScorecard({
        window: request.query.since ?? '24h',
        now: new Date(),
        prometheus,
        incidents: await incidents.list(),
        backups: await listBackups(config.ops),
        maintenance: await maintenance.list(),
      });
    },
  );

  app.get(
    '/ops/backups',
    { onRequest: auth.requireAdmin, schema: { tags, summary: 'Backups, newest first, with their drill results', security } },
    async () => listBackups(config.ops),
  );

  app.post(
    '/ops/backups',
    {
      onRequest: auth.requireAdmin,
      schema: {
        tags,
        summary: 'Take a backup now, then run its restore drill',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            scheduled: {
              type: 'boolean',
              default: false,
              description:
                'Run as the daily schedule does: kind "scheduled", then the retention policy under the same lock ' +
                "(what Kubernetes' backup CronJob asks for)",
            },
          },
        },
        description:
          '201 with the manifest when the drill passed. 409 at once while another backup, restore or prune runs ' +
          '(CLI, schedule or another replica). 500 when the drill failed: the backup is kept, its manifest says so, ' +
          'and the backup metrics count it as a failed backup.',
        security,
        response: errorResponses(401, 403, 409, 500, 503),
      },
    },
    async (request, reply) => {
      const scheduled = (request.query as { scheduled?: boolean }).scheduled === true;
      const run = scheduled
        ? await runScheduledBackup(config.ops)
        : { backup: await takeBackup(config.ops, { kind: 'manual', verify: true }), pruned: undefined };
      const verified = run.backup;
      await options.onBackupsChanged();
      if (run.pruned !== undefined) request.log.info({ pruned: run.pruned.remove.map((m) => m.id) }, 'retention applied');
      const problems = verified.verification?.problems ?? [];
      if (verified.verification?.ok !== true) {
        request.log.error({ backup: verified.id, problems }, 'backup taken on request failed its restore drill');
        throw appError('BACKUP_DRILL_FAILED', {
          detail: `backup ${verified.id} failed its restore drill: ${problems.join('; ')}`,
        });
      }
      request.log.info({ backup: verified.id }, 'backup taken on request');
      reply.code(201);
      return verified;
    },
  );

  app.get(
    '/ops/maintenance',
    { onRequest: auth.requireAdmin, schema: { tags, summary: 'Maintenance windows', security } },
    async () => maintenance.list(),
  );

  if (!prometheus) app.log.info('PROMETHEUS_URL not set: KPI rows from Prometheus will be unknown');
}
