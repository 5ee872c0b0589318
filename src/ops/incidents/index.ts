export { type ParsedAlert, parseWebhook, serviceOf, type WebhookPayload } from './alert-webhook.ts';
export { IncidentStore, incidentKeys, mergeAlert } from './incident-store.ts';
export * from './model.ts';
export { type Lang, type ReportEvidence, renderIncidentReport } from './report.ts';
