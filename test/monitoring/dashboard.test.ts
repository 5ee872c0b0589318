import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { parse } from 'yaml';
import {
  DASHBOARD_FILE,
  dashboardExpressions,
  MONITORING_DIR,
  recordingExpressions,
  ruleFilePaths,
  substituteVariables,
} from '../../src/platform/monitoring-config/index.ts';

interface Panel {
  id: number;
  type: string;
  title: string;
  datasource?: { type: string; uid: string };
  targets?: { expr?: string; refId: string; datasource?: { uid: string } }[];
  panels?: Panel[];
  fieldConfig?: { defaults: { thresholds?: { steps: { color: string; value: number | null }[] } } };
}
interface Variable {
  name: string;
  type: string;
  query: unknown;
  datasource?: { uid: string };
  multi?: boolean;
  includeAll?: boolean;
}
interface Dashboard {
  uid: string;
  title: string;
  schemaVersion: number;
  panels: Panel[];
  templating: { list: Variable[] };
}

/** Grafana's `${name}` variable syntax, written without tripping the template-string lint. */
const braced = (name: string) => `\${${name}}`;
const DATASOURCE = braced('datasource');

const text = await readFile(DASHBOARD_FILE, 'utf8');
const dashboard = JSON.parse(text) as Dashboard;
const allPanels = (panels: Panel[]): Panel[] => panels.flatMap((p) => [p, ...allPanels(p.panels ?? [])]);
const panels = allPanels(dashboard.panels);
const visualisations = panels.filter((p) => p.type !== 'row');

test('the dashboard is JSON of a current Grafana schema, with a stable uid', () => {
  assert.ok(dashboard.schemaVersion >= 39, `schemaVersion ${dashboard.schemaVersion}`);
  assert.equal(dashboard.uid, 'haddock-overview');
  assert.ok(dashboard.title.length > 0);
  assert.equal(new Set(panels.map((p) => p.id)).size, panels.length, 'two panels share an id');
});

test('the dashboard uses only current panel types: no singlestat, no graph', () => {
  for (const panel of panels) {
    assert.ok(!['singlestat', 'graph'].includes(panel.type), `${panel.title} is a deprecated ${panel.type}`);
    assert.ok(['row', 'timeseries', 'stat', 'gauge', 'table'].includes(panel.type), `${panel.title}: ${panel.type}`);
  }
  for (const type of ['timeseries', 'stat', 'gauge', 'table']) {
    assert.ok(
      panels.some((p) => p.type === type),
      `no ${type} panel`,
    );
  }
});

test('the data source is a variable of type prometheus, used by every panel and query', () => {
  const datasource = dashboard.templating.list.find((v) => v.name === 'datasource');
  assert.equal(datasource?.type, 'datasource');
  assert.equal(datasource?.query, 'prometheus');
  for (const panel of visualisations) {
    assert.deepEqual(panel.datasource, { type: 'prometheus', uid: DATASOURCE }, panel.title);
    for (const target of panel.targets ?? []) assert.equal(target.datasource?.uid, DATASOURCE, panel.title);
  }
});

test('namespace and service variables select the series', () => {
  const byName = Object.fromEntries(dashboard.templating.list.map((v) => [v.name, v]));
  assert.equal(byName.namespace?.type, 'query');
  assert.equal(byName.service?.type, 'query');
  assert.equal(byName.service?.includeAll, true);
  assert.equal(byName.namespace?.datasource?.uid, DATASOURCE);
  for (const { panel, expr } of dashboardExpressions(text)) {
    assert.match(expr, /namespace="\$namespace"/, `${panel} ignores the namespace`);
  }
});

test('every panel has queries, each with a non-empty expression and its own refId', () => {
  for (const panel of visualisations) {
    assert.ok((panel.targets ?? []).length > 0, `${panel.title} has no query`);
    const refIds = (panel.targets ?? []).map((t) => t.refId);
    assert.equal(new Set(refIds).size, refIds.length, `${panel.title}: duplicate refId`);
    for (const target of panel.targets ?? []) assert.ok((target.expr ?? '').trim().length > 0, `${panel.title}: empty query`);
  }
});

const kpis: ReadonlyArray<[string, number]> = [
  ['Availability', 0.999],
  ['Availability, 30 days', 0.999],
  ['Mean response time', 0.2],
  ['Error rate', 0.01],
  ['CPU usage', 0.7],
  ['Memory usage', 0.8],
];
for (const [title, threshold] of kpis) {
  test(`KPI panel "${title}" has the spec's target ${threshold} as a threshold`, () => {
    const panel = visualisations.find((p) => p.title === title);
    assert.ok(panel, `no panel "${title}"`);
    assert.ok(['stat', 'gauge'].includes(panel.type));
    const steps = panel.fieldConfig?.defaults.thresholds?.steps ?? [];
    assert.ok(
      steps.some((s) => s.value === threshold),
      `${title}: thresholds ${JSON.stringify(steps)}`,
    );
  });
}

test('the dashboard covers traffic, errors, latency, SLO, Redis, logins and quotes', () => {
  const all = dashboardExpressions(text)
    .map((e) => e.expr)
    .join('\n');
  for (const series of [
    'service:http_requests:rate5m',
    'service:http_requests_5xx:ratio_rate5m',
    'service:http_request_latency_seconds:p50_rate5m',
    'service:http_request_latency_seconds:p95_rate5m',
    'service:http_request_latency_seconds:p99_rate5m',
    'http_requests_in_progress',
    'service:http_availability:ratio_rate5m',
    'service:slo_errors_per_request:ratio_rate1h',
    'haddock_redis_up',
    'haddock_redis_memory_used_bytes',
    'haddock_redis_command_duration_seconds_bucket',
    'haddock_logins_total',
    'haddock_quotes_stored',
    '[30d]',
  ]) {
    assert.ok(all.includes(series), `no panel shows ${series}`);
  }
});

test('every recorded series the dashboard reads is defined by a recording rule', async () => {
  const texts = await Promise.all((await ruleFilePaths()).map((f) => readFile(f, 'utf8')));
  const recorded = new Set(texts.flatMap(recordingExpressions).map((r) => r.record));
  for (const { panel, expr } of dashboardExpressions(text)) {
    for (const name of expr.match(/\b[a-z_]+:[a-z0-9_]+:[a-z0-9_]+\b/g) ?? []) {
      assert.ok(recorded.has(name), `${panel}: ${name} is not recorded`);
    }
  }
});

test('dashboardExpressions walks rows and the API wrapper, and skips panels without PromQL', () => {
  const nested = {
    dashboard: {
      panels: [
        { type: 'row', title: 'r', panels: [{ type: 'stat', title: 'inner', targets: [{ refId: 'A', expr: ' up ' }] }] },
        { type: 'text', title: 'notes' },
        {
          type: 'timeseries',
          title: 'outer',
          targets: [
            { refId: 'A', expr: 'a' },
            { refId: 'B', expr: 'b' },
          ],
        },
      ],
    },
  };
  assert.deepEqual(dashboardExpressions(nested), [
    { panel: 'inner', refId: 'A', expr: 'up' },
    { panel: 'outer', refId: 'A', expr: 'a' },
    { panel: 'outer', refId: 'B', expr: 'b' },
  ]);
  assert.throws(() => dashboardExpressions('{}'), /no "panels" list/);
});

const substitutions: ReadonlyArray<[string, Record<string, string>, string]> = [
  ['up{namespace="$namespace"}', { namespace: 'haddock' }, 'up{namespace="haddock"}'],
  [`up{namespace="${braced('namespace')}"}`, { namespace: 'haddock' }, 'up{namespace="haddock"}'],
  [`up{service=~"${braced('service:regex')}"}`, { service: 'quotes|users' }, 'up{service=~"quotes|users"}'],
  ['up{namespace="[[namespace]]"}', { namespace: 'haddock' }, 'up{namespace="haddock"}'],
  ['rate(x[$__rate_interval])', {}, 'rate(x[1m])'],
  ['rate(x[$__rate_interval])', { __rate_interval: '2m' }, 'rate(x[2m])'],
  ['increase(x[$__range])', {}, 'increase(x[1h])'],
  ['label_replace(up, "s", "$1", "job", "haddock-(.+)")', {}, 'label_replace(up, "s", "$1", "job", "haddock-(.+)")'],
  ['$namespace_x', { namespace: 'a', namespace_x: 'b' }, 'b'],
];
for (const [expr, vars, expected] of substitutions) {
  test(`substituteVariables(${expr}) → ${expected}`, () => {
    assert.equal(substituteVariables(expr, vars), expected);
  });
}

test('substituteVariables names every variable it has no value for', () => {
  assert.throws(() => substituteVariables(`up{a="$first", b="${braced('second')}"}`, {}), /first, second/);
});

test('Grafana provisioning loads the dashboard folder and a Prometheus data source', async () => {
  const provisioning = join(MONITORING_DIR, 'grafana', 'provisioning');
  const datasources = parse(await readFile(join(provisioning, 'datasources', 'prometheus.yml'), 'utf8')) as {
    apiVersion: number;
    datasources: { type: string; isDefault: boolean; url: string }[];
  };
  assert.equal(datasources.apiVersion, 1);
  assert.equal(datasources.datasources[0]?.type, 'prometheus');
  assert.equal(datasources.datasources[0]?.isDefault, true);
  const dashboards = parse(await readFile(join(provisioning, 'dashboards', 'haddock.yml'), 'utf8')) as {
    apiVersion: number;
    providers: { type: string; options: { path: string } }[];
  };
  assert.equal(dashboards.apiVersion, 1);
  assert.equal(dashboards.providers[0]?.type, 'file');
  assert.equal(dashboards.providers[0]?.options.path, '/var/lib/grafana/dashboards/haddock');
  const readme = await readFile(join(MONITORING_DIR, 'README.md'), 'utf8');
  assert.ok(readme.includes('/var/lib/grafana/dashboards/haddock') && readme.includes('/etc/grafana/provisioning'));
});
