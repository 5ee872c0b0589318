import assert from 'node:assert/strict';
import { cp, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { parse, stringify } from 'yaml';
import { ConfigError } from '../../src/lib/config/index.ts';
import {
  MONITORING_DIR,
  type PrometheusConfigOptions,
  prepareRuleFiles,
  RULES_DIR,
  renderPrometheusConfig,
} from '../../src/platform/monitoring-config/index.ts';
import { loadConfig as loadRunnerConfig } from '../../src/platform/runner/config.ts';
import { scrapeTargets } from '../../src/platform/runner/prometheus-stack.ts';
import { assertSucceeds, run, tempDir } from './tools.ts';

/** Every process on its private metrics port (the services' METRICS_PORT, the gateway's GATEWAY_METRICS_PORT). */
const TARGETS = [
  { job: 'haddock-users', address: '127.0.0.1:8011' },
  { job: 'haddock-quotes', address: '127.0.0.1:8012' },
  { job: 'haddock-search', address: '127.0.0.1:8013' },
  { job: 'haddock-ops', address: '127.0.0.1:8014' },
  { job: 'haddock-gateway', address: '127.0.0.1:8010' },
];

interface PrometheusConfig {
  global: Record<string, string>;
  rule_files: string[];
  alerting?: { alertmanagers: { scheme: string; path_prefix?: string; static_configs: { targets: string[] }[] }[] };
  scrape_configs: {
    job_name: string;
    scheme: string;
    metrics_path: string;
    static_configs: { targets: string[]; labels: Record<string, string> }[];
  }[];
}

function render(overrides: Partial<PrometheusConfigOptions> = {}): PrometheusConfig {
  return parse(
    renderPrometheusConfig({
      scrapeInterval: '15s',
      evaluationInterval: '15s',
      namespace: 'haddock',
      targets: TARGETS,
      ruleFiles: ['/tmp/rules/alerts.yml'],
      ...overrides,
    }),
  ) as PrometheusConfig;
}

for (const profile of ['production', 'test'] as const) {
  test(`renderPrometheusConfig with the ${profile} rule files passes promtool check config`, async () => {
    const { dir, remove } = await tempDir(`prometheus-${profile}`);
    try {
      const ruleFiles = await prepareRuleFiles(join(dir, 'rules'), profile);
      const text = renderPrometheusConfig({
        scrapeInterval: profile === 'test' ? '1s' : '15s',
        evaluationInterval: profile === 'test' ? '1s' : '15s',
        namespace: 'haddock',
        targets: TARGETS,
        ruleFiles,
        alertmanagerUrl: 'http://127.0.0.1:9093',
      });
      const file = join(dir, 'prometheus.yml');
      await writeFile(file, text);
      const output = assertSucceeds('promtool', ['check', 'config', file]);
      assert.match(output, new RegExp(`SUCCESS: ${ruleFiles.length} rule files found`));
    } finally {
      await remove();
    }
  });
}

test('every target gets its job and the namespace label', () => {
  const config = render({ namespace: 'qualification' });
  assert.deepEqual(
    config.scrape_configs.map((c) => [c.job_name, c.scheme, c.metrics_path, c.static_configs[0]?.targets]),
    TARGETS.map((t) => [t.job, 'http', '/metrics', [t.address]]),
  );
  for (const c of config.scrape_configs) assert.deepEqual(c.static_configs[0]?.labels, { namespace: 'qualification' });
});

test("the runner's Prometheus scrapes each process on its private metrics port, never on a public one", () => {
  const env = {
    HOST: '127.0.0.1',
    USERS_PORT: '9001',
    QUOTES_PORT: '9002',
    SEARCH_PORT: '9003',
    OPS_PORT: '9004',
    GATEWAY_PORT: '9000',
    USERS_METRICS_PORT: '9011',
    QUOTES_METRICS_PORT: '9012',
    SEARCH_METRICS_PORT: '9013',
    OPS_METRICS_PORT: '9014',
    GATEWAY_METRICS_PORT: '9010',
    MONITORING: 'off',
  };
  const runner = loadRunnerConfig(env);
  const config = render({ targets: scrapeTargets(runner, '127.0.0.1', '127.0.0.1') });
  assert.deepEqual(
    config.scrape_configs.map((c) => [c.job_name, c.metrics_path, c.static_configs[0]?.targets]),
    [
      ['haddock-users', '/metrics', ['127.0.0.1:9011']],
      ['haddock-quotes', '/metrics', ['127.0.0.1:9012']],
      ['haddock-search', '/metrics', ['127.0.0.1:9013']],
      ['haddock-ops', '/metrics', ['127.0.0.1:9014']],
      ['haddock-gateway', '/metrics', ['127.0.0.1:9010']],
    ],
  );
  const publicPorts = [env.USERS_PORT, env.QUOTES_PORT, env.SEARCH_PORT, env.OPS_PORT, env.GATEWAY_PORT];
  for (const target of config.scrape_configs.flatMap((c) => c.static_configs[0]?.targets ?? [])) {
    assert.ok(!publicPorts.includes(target.split(':')[1] ?? ''), `${target} is a public port`);
  }
  // The defaults: each public port plus 10.
  const defaults = loadRunnerConfig({ MONITORING: 'off' });
  assert.deepEqual(
    scrapeTargets(defaults, '127.0.0.1', '127.0.0.1').map((t) => t.address.split(':')[1]),
    ['8011', '8012', '8013', '8014', '8010'],
  );
});

test('targets of one job share a scrape config; a URL target sets its scheme and path', () => {
  const config = render({
    targets: [
      { job: 'haddock-quotes', address: '127.0.0.1:8002' },
      { job: 'haddock-quotes', address: '127.0.0.1:8012' },
      { job: 'haddock-gateway', address: 'https://gateway.example.org:8443/internal/metrics' },
    ],
  });
  assert.deepEqual(config.scrape_configs[0]?.static_configs[0]?.targets, ['127.0.0.1:8002', '127.0.0.1:8012']);
  assert.equal(config.scrape_configs[1]?.scheme, 'https');
  assert.equal(config.scrape_configs[1]?.metrics_path, '/internal/metrics');
  assert.deepEqual(config.scrape_configs[1]?.static_configs[0]?.targets, ['gateway.example.org:8443']);
});

test('the scrape timeout never exceeds the scrape interval', () => {
  assert.equal(render({ scrapeInterval: '1s' }).global.scrape_timeout, '1s');
  assert.equal(render({ scrapeInterval: '1m' }).global.scrape_timeout, '10s');
});

test('alerts go to Alertmanager only when its URL is given', () => {
  assert.equal(render().alerting, undefined);
  const alerting = render({ alertmanagerUrl: 'http://127.0.0.1:9093/am/' }).alerting;
  assert.deepEqual(alerting?.alertmanagers[0]?.static_configs, [{ targets: ['127.0.0.1:9093'] }]);
  assert.equal(alerting?.alertmanagers[0]?.scheme, 'http');
  assert.equal(alerting?.alertmanagers[0]?.path_prefix, '/am');
});

test('renderPrometheusConfig lists every bad option at once', () => {
  try {
    renderPrometheusConfig({
      scrapeInterval: 'often',
      evaluationInterval: '0s',
      namespace: ' ',
      targets: [
        { job: 'haddock-quotes', address: 'no-port' },
        { job: '', address: '127.0.0.1:1' },
      ],
      ruleFiles: [],
      alertmanagerUrl: 'ftp://127.0.0.1',
    });
    assert.fail('accepted');
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    const text = err.problems.join('\n');
    for (const part of ['scrapeInterval', 'evaluationInterval', 'namespace', '"no-port"', 'job name', 'alertmanagerUrl']) {
      assert.ok(text.includes(part), `${part} not in:\n${text}`);
    }
  }
});

test('prometheus.example.yml (Kubernetes discovery of the haddock namespace) passes promtool check config', async () => {
  const file = join(MONITORING_DIR, 'prometheus', 'prometheus.example.yml');
  const text = await readFile(file, 'utf8');
  const config = parse(text) as {
    rule_files: string[];
    scrape_configs: {
      kubernetes_sd_configs?: { role: string; namespaces: { names: string[] } }[];
      relabel_configs: { target_label?: string; replacement?: string; action?: string; regex?: string }[];
      static_configs?: unknown;
    }[];
  };
  const [scrape] = config.scrape_configs;
  assert.ok(scrape);
  assert.equal(scrape.kubernetes_sd_configs?.[0]?.role, 'pod');
  assert.ok(scrape.kubernetes_sd_configs?.[0]?.namespaces.names.includes('haddock'));
  const targets = scrape.relabel_configs.map((r) => r.target_label);
  for (const label of ['namespace', 'job', 'pod', '__metrics_path__']) assert.ok(targets.includes(label), label);
  assert.ok(scrape.relabel_configs.some((r) => r.target_label === 'job' && r.replacement === 'haddock-$1'));
  // Every process the runner scrapes (the rules expect job haddock-ops too), each on its private metrics port.
  for (const rule of scrape.relabel_configs.filter((r) => r.regex?.includes('users'))) {
    assert.equal(rule.regex, '(users|quotes|search|ops|gateway)(-service)?');
  }
  assert.match(text, /prometheus\.io\/port: the declared container port serving\n#\s+\/metrics: the private metrics port/);
  assert.ok(!targets.includes('service'), "a service target label would rename the metrics' own to exported_service");

  const { dir, remove } = await tempDir('prometheus-example');
  try {
    await cp(RULES_DIR, join(dir, 'rules'), { recursive: true });
    const original = join(dir, 'prometheus.yml');
    await writeFile(original, text);
    const { status, output } = run('promtool', ['check', 'config', original]);
    if (status !== 0) {
      // Debian builds Prometheus without Kubernetes discovery: check everything else with a static target.
      assert.match(output, /field kubernetes_sd_configs not found/, output);
      scrape.kubernetes_sd_configs = undefined;
      scrape.static_configs = [{ targets: ['127.0.0.1:1'] }];
      const fallback = join(dir, 'prometheus-static.yml');
      await writeFile(fallback, stringify(config));
      assert.match(assertSucceeds('promtool', ['check', 'config', fallback]), /SUCCESS: 2 rule files found/);
    } else {
      assert.match(output, /SUCCESS: 2 rule files found/);
    }
  } finally {
    await remove();
  }
});
