export {
  escapeLabel,
  MAX_WEBHOOK_ALERTS,
  type ParsedAlert,
  parseWebhook,
  SAFE_SERVICE,
  serviceOf,
  UNKNOWN_SERVICE,
  WEBHOOK_BODY_SCHEMA,
  type WebhookPayload,
} from './alert-webhook.ts';
export { IncidentStore, incidentKeys, mergeAlert } from './incident-store.ts';
export * from './model.ts';
export { type Lang, type ReportEvidence, renderIncidentReport } from './report.ts';
