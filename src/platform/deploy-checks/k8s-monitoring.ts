import { readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { parse, stringify } from 'yaml';
import { DASHBOARD_FILE, MONITORING_DIR, REPOSITORY_ROOT, RULES_DIR } from '../monitoring-config/index.ts';
import { OPS_ALERTS_PATH } from './compose.ts';
import { K8S_DIR, type K8sObject, objectId, objectsOf } from './k8s-render.ts';

/** base/monitoring, relative to the repository root. */
export const K8S_MONITORING_DIR = `${K8S_DIR}/base/monitoring`;

/** The Kubernetes-only rule files (never loaded by the local Prometheus, whose rule files are RULES_DIR's). */
export const K8S_RULES_DIR = join(MONITORING_DIR, 'prometheus', 'rules-k8s');

/** Their promtool tests (a folder of their own: the tests in RULE_TESTS_DIR load only RULES_DIR's files). */
export const K8S_RULE_TESTS_DIR = join(MONITORING_DIR, 'prometheus', 'tests', 'kubernetes');

/** The generated files of base/monitoring, relative to it. */
export const PROMETHEUS_RULES_FILE = 'prometheusrules.yaml';
export const DASHBOARD_COPY = `dashboards/${basename(DASHBOARD_FILE)}`;

/** The PrometheusRules and the folder each one's groups come from. */
export const PROMETHEUS_RULES: readonly { readonly name: string; readonly dir: string }[] = [
  { name: 'haddock', dir: RULES_DIR },
  { name: 'haddock-kubernetes', dir: K8S_RULES_DIR },
];

/** The services a ServiceMonitor scrapes, each under the job `haddock-<service>`. */
export const MONITORED_SERVICES = ['users', 'quotes', 'search', 'ops', 'gateway'] as const;

/** The Secret and key of the bearer token Alertmanager sends to the ops service. */
export const ALERT_WEBHOOK_SECRET = { name: 'haddock-alert-webhook', key: 'token' } as const;

type Json = Record<string, unknown>;

function asMap(value: unknown): Json | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Json) : undefined;
}

function asList(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

/** The rule files of a folder (*.yml, *.yaml), sorted, as absolute paths. */
export function ruleFilesOf(dir: string): string[] {
  return readdirSync(dir)
    .filter((name) => /\.ya?ml$/.test(name))
    .sort()
    .map((name) => join(dir, name));
}

/** Every group of a folder's rule files, in file order, as parsed. */
export function ruleGroupsOf(dir: string): unknown[] {
  return ruleFilesOf(dir).flatMap((file) => asList(asMap(parse(readFileSync(file, 'utf8')))?.groups));
}

/**
 * base/monitoring/prometheusrules.yaml: one PrometheusRule per rule folder, its groups exactly the files' (the
 * `release` label is the params component's). Written by write-k8s-monitoring.ts; k8s-monitoring.test.ts compares.
 */
export function renderPrometheusRules(): string {
  const header =
    '# Generated from monitoring/prometheus/rules/*.yml and rules-k8s/*.yml by\n' +
    '#   node --import tsx src/platform/deploy-checks/write-k8s-monitoring.ts\n' +
    '# Do not edit: change the rule files (test/deploy/k8s-monitoring.test.ts refuses a copy that differs).\n';
  const docs = PROMETHEUS_RULES.map(({ name, dir }) =>
    stringify(
      {
        apiVersion: 'monitoring.coreos.com/v1',
        kind: 'PrometheusRule',
        metadata: { name, labels: { release: 'PROMETHEUS_SELECTOR_RELEASE' } },
        spec: { groups: ruleGroupsOf(dir) },
      },
      { lineWidth: 0 },
    ),
  );
  return header + docs.join('---\n');
}

/** The dashboard as the configMapGenerator reads it: the committed JSON, byte for byte. */
export function dashboardSource(): string {
  return readFileSync(DASHBOARD_FILE, 'utf8');
}

/** The generated files' text as committed. */
export function readGeneratedMonitoring(root: string = REPOSITORY_ROOT): { rules: string; dashboard: string } {
  const dir = join(root, K8S_MONITORING_DIR);
  return {
    rules: readFileSync(join(dir, PROMETHEUS_RULES_FILE), 'utf8'),
    dashboard: readFileSync(join(dir, DASHBOARD_COPY), 'utf8'),
  };
}

/** Every `job` selector of a PromQL text: the matcher (`=`, `=~`) and its value. */
export function jobSelectors(text: string): { op: '=' | '=~'; value: string }[] {
  return [...text.matchAll(/\bjob\s*(=~|=)\s*"([^"]*)"/g)].map((m) => ({ op: m[1] as '=' | '=~', value: m[2] ?? '' }));
}

/** Whether a PromQL label matcher matches a value (regular expressions are anchored, as in PromQL). */
export function selectorMatches(selector: { op: '=' | '=~'; value: string }, value: string): boolean {
  return selector.op === '=' ? selector.value === value : new RegExp(`^(?:${selector.value})$`).test(value);
}

interface Relabeling {
  readonly action?: string;
  readonly sourceLabels?: readonly string[];
  readonly separator?: string;
  readonly regex?: string;
  readonly targetLabel?: string;
  readonly replacement?: string;
}

/**
 * The target labels a ServiceMonitor endpoint gives a target of a Service, as the Prometheus Operator's generated
 * scrape configuration computes them: its own relabelings first (job from the Service name, or from the Service's
 * `jobLabel` label; namespace, service, pod, container, endpoint), then the endpoint's `relabelings` (replace,
 * labeldrop, labelkeep; any other action is reported by the check, not simulated).
 */
export function targetLabels(monitor: K8sObject, endpoint: Json, service: K8sObject): Map<string, string> {
  const serviceLabels = service.metadata.labels ?? {};
  const jobLabel = asMap(monitor.spec)?.jobLabel;
  const meta = new Map<string, string>([
    ['__meta_kubernetes_service_name', service.metadata.name],
    ['__meta_kubernetes_namespace', service.metadata.namespace ?? ''],
    ...Object.entries(serviceLabels).map(
      ([k, v]) => [`__meta_kubernetes_service_label_${k.replace(/[^a-zA-Z0-9_]/g, '_')}`, v] as [string, string],
    ),
  ]);
  const labels = new Map<string, string>(meta);
  labels.set('namespace', service.metadata.namespace ?? '');
  labels.set('service', service.metadata.name);
  labels.set('endpoint', String(endpoint.port ?? ''));
  labels.set('pod', '<pod>');
  labels.set('container', '<container>');
  const jobFromLabel = typeof jobLabel === 'string' ? serviceLabels[jobLabel] : undefined;
  labels.set('job', jobFromLabel ?? service.metadata.name);
  for (const raw of asList(endpoint.relabelings)) {
    const r = raw as Relabeling;
    const action = (r.action ?? 'replace').toLowerCase();
    const regex = new RegExp(`^(?:${r.regex ?? '(.*)'})$`);
    if (action === 'replace') {
      const source = (r.sourceLabels ?? []).map((l) => labels.get(l) ?? '').join(r.separator ?? ';');
      const match = regex.exec(source);
      if (match !== null && r.targetLabel !== undefined) {
        const value = (r.replacement ?? '$1').replace(/\$\{?(\d+)\}?/g, (_, n: string) => match[Number(n)] ?? '');
        if (value === '') labels.delete(r.targetLabel);
        else labels.set(r.targetLabel, value);
      }
    } else if (action === 'labeldrop') {
      for (const key of [...labels.keys()]) if (regex.test(key)) labels.delete(key);
    } else if (action === 'labelkeep') {
      for (const key of [...labels.keys()]) if (!key.startsWith('__') && !regex.test(key)) labels.delete(key);
    }
  }
  for (const key of [...labels.keys()]) if (key.startsWith('__')) labels.delete(key);
  return labels;
}

/** The texts the monitoring check compares the rendered objects with (a test may replace one). */
export interface MonitoringSources {
  /** Each PrometheusRule's expected groups. */
  readonly groups: Readonly<Record<string, readonly unknown[]>>;
  /** Every rule file's text whose `job` selectors must match a scraped job. */
  readonly ruleTexts: readonly string[];
  readonly dashboard: string;
  readonly dashboardName: string;
}

export function monitoringSources(): MonitoringSources {
  return {
    groups: Object.fromEntries(PROMETHEUS_RULES.map(({ name, dir }) => [name, ruleGroupsOf(dir)])),
    ruleTexts: PROMETHEUS_RULES.flatMap(({ dir }) => ruleFilesOf(dir).map((file) => readFileSync(file, 'utf8'))),
    dashboard: dashboardSource(),
    dashboardName: basename(DASHBOARD_FILE),
  };
}

/**
 * Every problem of a rendered overlay's Prometheus Operator objects (empty when none): a ServiceMonitor per service on
 * its Service's `metrics` port giving the job `haddock-<service>`, the namespace label kept and no `service` target
 * label (it would rename the metrics' own to exported_service); every job selector of the rules matching a scraped
 * job; the PrometheusRules' groups identical to the rule files; the `release` label the Prometheus selects by on every
 * object; the dashboard ConfigMap for Grafana's sidecar equal to the source; the AlertmanagerConfig sending every
 * alert of the namespace to the ops service with the webhook Secret's token.
 */
export function checkMonitoring(objects: readonly K8sObject[], sources: MonitoringSources, release: string): string[] {
  const problems: string[] = [];
  const services = objectsOf(objects, 'Service');
  const jobs = new Set<string>();

  for (const name of MONITORED_SERVICES) {
    const job = `haddock-${name}`;
    const monitors = objectsOf(objects, 'ServiceMonitor').filter((m) => {
      const selector = asMap(asMap(asMap(m.spec)?.selector)?.matchLabels) ?? {};
      return Object.entries(selector).length > 0 && services.some((s) => s.metadata.name === job && labelsMatch(s, selector));
    });
    if (monitors.length !== 1) {
      problems.push(`${job}: ${monitors.length} ServiceMonitors select its Service (one expected)`);
      continue;
    }
    const [monitor] = monitors as [K8sObject];
    const where = objectId(monitor);
    const service = services.find((s) => s.metadata.name === job) as K8sObject;
    const endpoints = asList(asMap(monitor.spec)?.endpoints).map((e) => asMap(e) ?? {});
    const ports = asList(asMap(service.spec)?.ports).map((p) => String(asMap(p)?.name));
    if (endpoints.length !== 1 || endpoints[0]?.port !== 'metrics' || !ports.includes('metrics'))
      problems.push(`${where}: must scrape one endpoint, the Service's port named metrics`);
    const namespaces = asList(asMap(asMap(monitor.spec)?.namespaceSelector)?.matchNames);
    if (asMap(asMap(monitor.spec)?.namespaceSelector)?.any === true || namespaces.length > 0)
      problems.push(`${where}: must select Services of its own namespace only (no namespaceSelector)`);
    for (const endpoint of endpoints) {
      if (endpoint.honorLabels === true)
        problems.push(`${where}: honorLabels would let a metric's labels replace job and namespace`);
      for (const r of asList(endpoint.relabelings)) {
        const action = String(asMap(r)?.action ?? 'replace').toLowerCase();
        if (!['replace', 'labeldrop', 'labelkeep'].includes(action))
          problems.push(`${where}: relabeling action ${action} is not checked`);
      }
      const labels = targetLabels(monitor, endpoint, service);
      const produced = labels.get('job');
      if (produced !== job) problems.push(`${where}: its targets get job="${produced}", the rules expect ${job}`);
      else jobs.add(produced);
      if (labels.get('namespace') !== service.metadata.namespace)
        problems.push(`${where}: its targets' namespace label is not the namespace (the rules group by it)`);
      if (labels.has('service'))
        problems.push(`${where}: its targets keep a service label, which renames the metrics' own to exported_service (drop it)`);
    }
  }

  for (const text of sources.ruleTexts) {
    for (const selector of jobSelectors(text)) {
      if (![...jobs].some((job) => selectorMatches(selector, job)))
        problems.push(`rules: job${selector.op}"${selector.value}" matches no job the ServiceMonitors produce`);
    }
  }

  for (const [name, groups] of Object.entries(sources.groups)) {
    const rule = objectsOf(objects, 'PrometheusRule').find((r) => r.metadata.name === name);
    if (rule === undefined) {
      problems.push(`PrometheusRule/${name} is not rendered`);
      continue;
    }
    if (!isDeepStrictEqual(asMap(rule.spec)?.groups, groups))
      problems.push(
        `${objectId(rule)}: its groups differ from the rule files: run src/platform/deploy-checks/write-k8s-monitoring.ts`,
      );
  }

  for (const kind of ['ServiceMonitor', 'PrometheusRule', 'AlertmanagerConfig']) {
    for (const obj of objectsOf(objects, kind)) {
      if (obj.metadata.labels?.release !== release)
        problems.push(`${objectId(obj)}: label release is ${obj.metadata.labels?.release}, not ${release} (params.env)`);
    }
  }

  const dashboards = objectsOf(objects, 'ConfigMap').filter((cm) => cm.metadata.labels?.grafana_dashboard === '1');
  const dashboard = dashboards.find((cm) => asMap(cm.data)?.[sources.dashboardName] !== undefined);
  if (dashboard === undefined) problems.push(`no ConfigMap labelled grafana_dashboard: "1" holds ${sources.dashboardName}`);
  else if (asMap(dashboard.data)?.[sources.dashboardName] !== sources.dashboard)
    problems.push(
      `${objectId(dashboard)}: ${sources.dashboardName} differs from monitoring/grafana/dashboards: run src/platform/deploy-checks/write-k8s-monitoring.ts`,
    );

  const configs = objectsOf(objects, 'AlertmanagerConfig');
  if (configs.length !== 1) problems.push(`${configs.length} AlertmanagerConfigs (one expected)`);
  const secrets = objectsOf(objects, 'Secret');
  for (const config of configs) {
    const where = objectId(config);
    const spec = asMap(config.spec) ?? {};
    const route = asMap(spec.route) ?? {};
    const receivers = asList(spec.receivers).map((r) => asMap(r) ?? {});
    const receiver = receivers.find((r) => r.name === route.receiver);
    if (receiver === undefined) {
      problems.push(`${where}: the route's receiver ${String(route.receiver)} is not defined`);
      continue;
    }
    if (asList(route.matchers).length > 0 || asList(route.routes).length > 0)
      problems.push(`${where}: the route must take every alert of the namespace (no matchers, no sub-routes)`);
    const expectedUrl = `http://haddock-ops.${config.metadata.namespace}.svc:8004${OPS_ALERTS_PATH}`;
    const hooks = asList(receiver.webhookConfigs).map((h) => asMap(h) ?? {});
    if (hooks.length !== 1 || hooks[0]?.url !== expectedUrl)
      problems.push(`${where}: the receiver must send to ${expectedUrl} (got ${hooks.map((h) => String(h.url)).join(', ')})`);
    for (const key of Object.keys(receiver))
      if (key !== 'name' && key !== 'webhookConfigs') problems.push(`${where}: the receiver has ${key}: the ops service only`);
    for (const hook of hooks) {
      const credentials = asMap(asMap(asMap(hook.httpConfig)?.authorization)?.credentials);
      const secret = secrets.find((s) => s.metadata.name === credentials?.name);
      const generatedFrom = secret?.metadata.name.replace(/-[a-z0-9]{10}$/, '');
      if (
        secret === undefined ||
        (generatedFrom !== ALERT_WEBHOOK_SECRET.name && secret.metadata.name !== ALERT_WEBHOOK_SECRET.name) ||
        credentials?.key !== ALERT_WEBHOOK_SECRET.key ||
        asMap(secret.data)?.[ALERT_WEBHOOK_SECRET.key] === undefined
      ) {
        problems.push(
          `${where}: the bearer must be the rendered Secret ${ALERT_WEBHOOK_SECRET.name} key ${ALERT_WEBHOOK_SECRET.key} (got ${JSON.stringify(credentials)})`,
        );
      }
    }
  }
  return problems;
}

function labelsMatch(obj: K8sObject, selector: Json): boolean {
  const labels = obj.metadata.labels ?? {};
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}
