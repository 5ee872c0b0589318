import { type Incident, IncidentStore, type Lang, type ReportEvidence, renderIncidentReport } from '../../ops/incidents/index.ts';
import { PrometheusClient } from '../../ops/prometheus/index.ts';
import type { CliConfig } from '../config.ts';
import { withRedis } from '../redis.ts';

/** An unknown id throws INCIDENT_NOT_FOUND from the store; the entry turns it into its exit status. */
async function withIncidents<T>(config: CliConfig, work: (store: IncidentStore) => Promise<T>): Promise<T> {
  return withRedis(config.ops.redis, (redis) => work(new IncidentStore(redis, config.ops.redisKeyPrefix)));
}

export function newIncident(
  config: CliConfig,
  input: { title: string; service: string; severity: Incident['severity']; by: string },
) {
  return withIncidents(config, (store) => store.open(input));
}

export function listIncidents(config: CliConfig, filter: { status?: string; service?: string }): Promise<Incident[]> {
  return withIncidents(config, async (store) =>
    (await store.list()).filter(
      (i) => (!filter.status || i.status === filter.status) && (!filter.service || i.service === filter.service),
    ),
  );
}

export function showIncident(config: CliConfig, id: string): Promise<Incident> {
  return withIncidents(config, (store) => store.get(id));
}

export function ackIncident(config: CliConfig, id: string, by: string): Promise<Incident> {
  return withIncidents(config, (store) => store.acknowledge(id, by));
}

export function noteIncident(config: CliConfig, id: string, text: string, by: string): Promise<Incident> {
  return withIncidents(config, (store) => store.note(id, text, by));
}

export function resolveIncident(config: CliConfig, id: string, by: string, text?: string): Promise<Incident> {
  return withIncidents(config, (store) => store.resolve(id, by, text));
}

/** Readings at the time the incident opened, from the recording rules; nothing when Prometheus is unreachable. */
export async function metricsAt(prometheusUrl: string, service: string, at: Date): Promise<Record<string, string>> {
  const prometheus = new PrometheusClient(prometheusUrl, 3_000);
  if (!(await prometheus.ready())) return {};
  const selector = `{service="${service.replace(/[^a-z0-9-]/g, '')}"}`;
  const readings: [string, string, (v: number) => string][] = [
    ['Error rate (5xx)', `100 * sum(service:http_requests_5xx:ratio_rate5m${selector})`, (v) => `${v.toFixed(2)} %`],
    [
      'Mean response time',
      `1000 * sum(service:http_request_latency_seconds:mean_rate5m${selector})`,
      (v) => `${v.toFixed(1)} ms`,
    ],
    ['p99 response time', `1000 * max(service:http_request_latency_seconds:p99_rate5m${selector})`, (v) => `${v.toFixed(1)} ms`],
    ['CPU', `100 * max(service:process_cpu_usage:ratio_rate5m${selector})`, (v) => `${v.toFixed(1)} %`],
    ['Memory', `100 * max(service:process_resident_memory:ratio${selector})`, (v) => `${v.toFixed(1)} %`],
    ['Instances up', `sum(up{job="haddock-${service.replace(/[^a-z0-9-]/g, '')}"})`, (v) => String(v)],
  ];
  const result: Record<string, string> = {};
  for (const [name, expr, format] of readings) {
    const value = await prometheus.scalar(expr, at).catch(() => null);
    if (value !== null) result[name] = format(value);
  }
  return result;
}

/**
 * `haddock incident report ID`: the spec's report and review, with the log
 * lines of the incident's window and the metrics at its start attached.
 */
export async function incidentReport(
  config: CliConfig,
  id: string,
  lang: Lang,
  readLogLines: (from: Date, to: Date, service: string) => Promise<string[]>,
): Promise<string> {
  const incident = await showIncident(config, id);
  const from = new Date(Date.parse(incident.opened_at) - 5 * 60_000);
  const to = incident.resolved_at ? new Date(Date.parse(incident.resolved_at) + 60_000) : new Date();
  const evidence: ReportEvidence = {
    logLines: await readLogLines(from, to, incident.service).catch(() => []),
    metrics: await metricsAt(config.prometheusUrl, incident.service, new Date(incident.opened_at)).catch(() => ({})),
  };
  return renderIncidentReport(incident, lang, evidence);
}
