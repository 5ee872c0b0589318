import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { parse } from 'yaml';
import { parseDotEnv } from '../../src/platform/deploy-checks/compose.ts';
import {
  checkMonitoring,
  dashboardSource,
  K8S_RULE_TESTS_DIR,
  K8S_RULES_DIR,
  type MonitoringSources,
  monitoringSources,
  readGeneratedMonitoring,
  renderPrometheusRules,
  ruleFilesOf,
} from '../../src/platform/deploy-checks/k8s-monitoring.ts';
import { type K8sObject, OVERLAY_DIRS, parseManifests, renderOverlay } from '../../src/platform/deploy-checks/k8s-render.ts';
import {
  alertingRules,
  REPOSITORY_ROOT,
  RULES_DIR,
  RUNBOOK_BASE_URL,
  RUNBOOKS_DIR,
  ruleFilePaths,
} from '../../src/platform/monitoring-config/index.ts';
import { assertSucceeds } from '../monitoring/tools.ts';

const FIXTURES = join(import.meta.dirname, 'fixtures', 'k8s');
const rendered = { production: renderOverlay('production'), qualification: renderOverlay('qualification') };
const releaseOf = (overlay: keyof typeof OVERLAY_DIRS) =>
  parseDotEnv(readFileSync(join(REPOSITORY_ROOT, OVERLAY_DIRS[overlay], 'params.env'), 'utf8')).get(
    'PROMETHEUS_SELECTOR_RELEASE',
  ) ?? '';
const sources = monitoringSources();

function withFixture(objects: readonly K8sObject[], name: string): K8sObject[] {
  const replacements = parseManifests(readFileSync(join(FIXTURES, name), 'utf8'), name);
  const key = (o: K8sObject) => `${o.kind}/${o.metadata.name}`;
  const replaced = new Set(replacements.map(key));
  return [...objects.filter((o) => !replaced.has(key(o))), ...replacements];
}

describe('deploy/k8s monitoring (Prometheus Operator, Grafana sidecar)', () => {
  for (const overlay of ['production', 'qualification'] as const) {
    test(`${overlay}: ServiceMonitors, PrometheusRules, dashboard and AlertmanagerConfig agree with monitoring/: no problem`, () => {
      assert.ok(releaseOf(overlay) !== '', `${OVERLAY_DIRS[overlay]}/params.env has no PROMETHEUS_SELECTOR_RELEASE`);
      assert.deepEqual(checkMonitoring(rendered[overlay], sources, releaseOf(overlay)), []);
    });
  }

  test("the generated files are the writer's output (run src/platform/deploy-checks/write-k8s-monitoring.ts)", () => {
    const committed = readGeneratedMonitoring();
    assert.equal(committed.rules, renderPrometheusRules());
    assert.equal(committed.dashboard, dashboardSource());
  });

  test('every job selector of the rules matches a job the ServiceMonitors produce (and there are some)', () => {
    const selectors = sources.ruleTexts.join('\n').match(/\bjob\s*=~?\s*"/g) ?? [];
    assert.ok(selectors.length > 10, `only ${selectors.length} job selectors found in the rules`);
    // checkMonitoring above reports any unmatched one; here, one that cannot match must be reported.
    const broken: MonitoringSources = { ...sources, ruleTexts: ['up{job="haddock-billing"}', 'up{job=~"users-.+"}'] };
    const problems = checkMonitoring(rendered.production, broken, releaseOf('production'));
    assert.ok(
      problems.some((p) => p.includes('job="haddock-billing" matches no job')),
      problems.join('\n'),
    );
    assert.ok(
      problems.some((p) => p.includes('job=~"users-.+" matches no job')),
      problems.join('\n'),
    );
  });

  test('a rule group changed in monitoring/ but not regenerated is refused', () => {
    const groups = { ...sources.groups, haddock: [...(sources.groups.haddock ?? []), { name: 'extra', rules: [] }] };
    const problems = checkMonitoring(rendered.production, { ...sources, groups }, releaseOf('production'));
    assert.ok(
      problems.some((p) => /PrometheusRule\/haddock .*groups differ from the rule files/.test(p)),
      problems.join('\n'),
    );
  });

  const cases: { fixture: string; problem: RegExp }[] = [
    {
      fixture: 'monitoring-job-label.yaml',
      problem: /ServiceMonitor\/haddock-quotes .*job="quotes-service", the rules expect haddock-quotes/,
    },
    { fixture: 'monitoring-service-label.yaml', problem: /ServiceMonitor\/haddock-users .*keep a service label/ },
    {
      fixture: 'monitoring-release.yaml',
      problem: /PrometheusRule\/haddock-kubernetes .*label release is prometheus, not kube-prometheus-stack/,
    },
    {
      fixture: 'monitoring-alert-target.yaml',
      problem: /AlertmanagerConfig\/haddock .*must send to http:\/\/haddock-ops\.haddock-production\.svc:8004\/ops\/alerts/,
    },
    {
      fixture: 'monitoring-alert-secret.yaml',
      problem: /AlertmanagerConfig\/haddock .*bearer must be the rendered Secret haddock-alert-webhook key token/,
    },
    {
      fixture: 'monitoring-dashboard.yaml',
      problem: /ConfigMap\/haddock-dashboards .*differs from monitoring\/grafana\/dashboards/,
    },
    { fixture: 'monitoring-rules-edited.yaml', problem: /PrometheusRule\/haddock .*groups differ from the rule files/ },
  ];
  for (const { fixture, problem } of cases) {
    test(`fixtures/k8s/${fixture} is refused: ${problem.source}`, () => {
      const problems = checkMonitoring(withFixture(rendered.production, fixture), sources, releaseOf('production'));
      assert.ok(
        problems.some((p) => problem.test(p)),
        `expected ${problem}, got:\n${problems.join('\n')}`,
      );
    });
  }
});

describe('the Kubernetes alert group (monitoring/prometheus/rules-k8s)', () => {
  const files = ruleFilesOf(K8S_RULES_DIR);
  const alerts = files.flatMap((file) => alertingRules(readFileSync(file, 'utf8')));
  const testFiles = readdirSync(K8S_RULE_TESTS_DIR)
    .filter((name) => name.endsWith('.yml'))
    .map((name) => join(K8S_RULE_TESTS_DIR, name));

  test('it has the seven alerts of the issue', () => {
    assert.deepEqual(alerts.map((a) => a.alert).sort(), [
      'BackupJobFailed',
      'ContainerMemoryNearLimit',
      'DeploymentReplicasUnavailable',
      'HpaAtMaximum',
      'PersistentVolumeFillingUp',
      'PodCrashLooping',
      'PodNotReady',
    ]);
  });

  test('the local Prometheus never loads it: its rule files are monitoring/prometheus/rules/*.yml only', async () => {
    const local = await ruleFilePaths();
    assert.ok(local.length > 0);
    for (const file of local) assert.ok(file.startsWith(`${RULES_DIR}/`), `${file} is loaded locally`);
    for (const file of files) assert.ok(!local.includes(file), `${file} is loaded locally`);
  });

  for (const file of testFiles) {
    test(`promtool test rules ${file.slice(REPOSITORY_ROOT.length + 1)}`, () => {
      assertSucceeds('promtool', ['check', 'rules', ...files]);
      assert.match(assertSucceeds('promtool', ['test', 'rules', file]), /SUCCESS/);
    });
  }

  test('every alert has severity, summary, description with values, for, and a runbook listed in docs/runbooks', () => {
    const index = readFileSync(join(RUNBOOKS_DIR, 'README.md'), 'utf8');
    for (const rule of alerts) {
      assert.match(rule.labels.severity ?? '', /^(critical|warning|info)$/, `${rule.alert}: severity`);
      assert.ok((rule.annotations.summary ?? '').length > 0, `${rule.alert}: summary`);
      assert.match(rule.annotations.description ?? '', /\{\{ \$(labels\.\w+|value)/, `${rule.alert}: description`);
      assert.ok(rule.for !== undefined, `${rule.alert}: no "for"`);
      const url = rule.annotations.runbook_url ?? '';
      assert.ok(url.startsWith(RUNBOOK_BASE_URL), `${rule.alert}: runbook_url outside ${RUNBOOK_BASE_URL}`);
      assert.ok(existsSync(join(RUNBOOKS_DIR, url.slice(RUNBOOK_BASE_URL.length))), `${rule.alert}: ${url} does not exist`);
      assert.match(index, new RegExp(`\\| ${rule.alert} `), `${rule.alert} missing from docs/runbooks/README.md`);
    }
  });

  test('every alert is tested firing with its labels, and silent', () => {
    type Case = { alertname: string; exp_alerts?: { exp_labels?: Record<string, string> }[] };
    const cases = testFiles.flatMap((file) =>
      (parse(readFileSync(file, 'utf8')) as { tests: { alert_rule_test?: Case[] }[] }).tests.flatMap(
        (t) => t.alert_rule_test ?? [],
      ),
    );
    for (const rule of alerts) {
      const fires = cases.some(
        (c) =>
          c.alertname === rule.alert &&
          (c.exp_alerts ?? []).some((a) => Object.entries(rule.labels).every(([k, v]) => a.exp_labels?.[k] === v)),
      );
      assert.ok(fires, `no promtool test expects ${rule.alert} to fire`);
      assert.ok(
        cases.some((c) => c.alertname === rule.alert && (c.exp_alerts ?? []).length === 0),
        `no promtool test expects ${rule.alert} to stay silent`,
      );
    }
  });
});
