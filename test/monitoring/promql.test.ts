import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, test } from 'node:test';
import { PROMETHEUS_KPIS } from '../../src/ops/kpi/prometheus.ts';
import {
  alertingRules,
  DASHBOARD_FILE,
  dashboardExpressions,
  recordingExpressions,
  ruleFilePaths,
  substituteVariables,
} from '../../src/platform/monitoring-config/index.ts';
import { type ScratchPrometheus, startPrometheus } from './tools.ts';

// A real Prometheus parses and evaluates every query: a parse error is a 400 with errorType bad_data.
let prometheus: ScratchPrometheus | undefined;
before(async () => {
  prometheus = await startPrometheus();
});
after(async () => {
  await prometheus?.stop();
});

async function assertValid(where: string, expr: string): Promise<void> {
  assert.ok(prometheus, 'prometheus did not start');
  const { status, body } = await prometheus.query(expr);
  assert.equal(status, 200, `${where}: ${body.errorType ?? ''} ${body.error ?? ''}\n${expr}`);
  assert.equal(body.status, 'success');
}

test('the check can fail: Prometheus answers 400 bad_data to an invalid query', async () => {
  assert.ok(prometheus);
  const { status, body } = await prometheus.query('sum(rate(http_requests_total[5m])');
  assert.equal(status, 400);
  assert.equal(body.errorType, 'bad_data');
});

const dashboard = await readFile(DASHBOARD_FILE, 'utf8');
const selections: ReadonlyArray<Record<string, string>> = [
  { namespace: 'haddock', service: 'quotes' },
  { namespace: 'production', service: '.*' },
];
for (const vars of selections) {
  test(`every dashboard query is valid PromQL with ${JSON.stringify(vars)}`, async () => {
    const expressions = dashboardExpressions(dashboard);
    assert.ok(expressions.length > 30);
    for (const { panel, refId, expr } of expressions) {
      await assertValid(`${panel} [${refId}]`, substituteVariables(expr, vars));
    }
  });
}

const rules = await Promise.all((await ruleFilePaths()).map((f) => readFile(f, 'utf8')));

test('every recording rule expression is valid PromQL', async () => {
  for (const { record, expr } of rules.flatMap(recordingExpressions)) await assertValid(record, expr);
});

test('every alert expression is valid PromQL', async () => {
  for (const { alert, expr } of rules.flatMap(alertingRules)) await assertValid(alert, expr);
});

test('every KPI query of `haddock kpi` is valid PromQL and reads only recorded series', async () => {
  const recorded = new Set(rules.flatMap(recordingExpressions).map((r) => r.record));
  for (const kpi of PROMETHEUS_KPIS) {
    const expr = kpi.expr('24h');
    await assertValid(`kpi ${kpi.key}`, expr);
    const series = [...expr.matchAll(/([a-z_]+:[a-z0-9_]+:[a-z0-9_]+)/g)].map((m) => m[1] as string);
    assert.ok(series.length > 0, `${kpi.key} reads a recording rule`);
    for (const name of series) assert.ok(recorded.has(name), `${kpi.key}: ${name} is a recording rule`);
  }
});
