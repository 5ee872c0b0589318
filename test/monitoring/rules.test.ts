import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { test } from 'node:test';
import { parse } from 'yaml';
import {
  alertingRules,
  formatDuration,
  parseDuration,
  prepareRuleFiles,
  RULE_TESTS_DIR,
  RULES_DIR,
  RUNBOOK_BASE_URL,
  RUNBOOKS_DIR,
  recordingExpressions,
  ruleFilePaths,
  shortenFor,
} from '../../src/platform/monitoring-config/index.ts';
import { assertSucceeds, tempDir } from './tools.ts';

const ruleFiles = await ruleFilePaths();
const testFiles = (await readdir(RULE_TESTS_DIR))
  .filter((name) => name.endsWith('.yml'))
  .sort()
  .map((name) => join(RULE_TESTS_DIR, name));
const rulesText = await Promise.all(ruleFiles.map((file) => readFile(file, 'utf8')));
const alerts = rulesText.flatMap(alertingRules);
const records = rulesText.flatMap(recordingExpressions);

interface PromtoolTestFile {
  rule_files: string[];
  tests: {
    alert_rule_test?: { alertname: string; exp_alerts?: { exp_labels?: Record<string, string> }[] }[];
    promql_expr_test?: { expr: string; exp_samples?: unknown[] }[];
  }[];
}
const promtoolTests = await Promise.all(
  testFiles.map(async (file) => ({ file, content: parse(await readFile(file, 'utf8')) as PromtoolTestFile })),
);

test('the repository has alerting and recording rules and promtool tests for them', () => {
  assert.ok(alerts.length >= 14, `only ${alerts.length} alerting rules`);
  assert.ok(records.length >= 30, `only ${records.length} recording rules`);
  assert.ok(testFiles.length > 0);
});

for (const file of ruleFiles) {
  test(`promtool check rules ${file.slice(RULES_DIR.length + 1)}`, () => {
    assertSucceeds('promtool', ['check', 'rules', file]);
  });
}

for (const file of testFiles) {
  test(`promtool test rules ${file.slice(RULE_TESTS_DIR.length + 1)}`, () => {
    const output = assertSucceeds('promtool', ['test', 'rules', file]);
    assert.match(output, /SUCCESS/);
  });
}

test('every promtool test file loads rule files of the repository', () => {
  for (const { file, content } of promtoolTests) {
    assert.ok(content.rule_files.length > 0, `${file} loads no rule file`);
    for (const ruleFile of content.rule_files) {
      const path = resolve(dirname(file), ruleFile);
      assert.ok(ruleFiles.includes(path), `${file} loads ${ruleFile}, which is not in ${RULES_DIR}`);
    }
  }
});

test('every alert has a severity, a summary, a description with template values and a runbook URL', () => {
  for (const rule of alerts) {
    const where = `${rule.alert} (${rule.expr.slice(0, 60)}…)`;
    assert.match(rule.labels.severity ?? '', /^(critical|warning|info)$/, `${where}: severity`);
    assert.ok((rule.annotations.summary ?? '').length > 0, `${where}: summary`);
    assert.match(rule.annotations.description ?? '', /\{\{ \$(labels\.\w+|value)/, `${where}: description`);
    assert.ok(rule.for !== undefined, `${where}: no "for"`);
    assert.ok(rule.annotations.runbook_url?.startsWith(RUNBOOK_BASE_URL), `${where}: runbook_url outside ${RUNBOOK_BASE_URL}`);
  }
});

test('every runbook_url names an existing file of docs/runbooks', () => {
  for (const rule of alerts) {
    const url = rule.annotations.runbook_url ?? '';
    const file = join(RUNBOOKS_DIR, url.slice(RUNBOOK_BASE_URL.length));
    assert.ok(existsSync(file), `${rule.alert}: ${url} → ${file} does not exist`);
  }
});

test('the runbooks index lists every alert', async () => {
  const index = await readFile(join(RUNBOOKS_DIR, 'README.md'), 'utf8');
  for (const name of new Set(alerts.map((rule) => rule.alert))) {
    assert.match(index, new RegExp(`\\| ${name} `), `${name} missing from docs/runbooks/README.md`);
  }
});

test('alert rules of one name stay apart by their labels (promtool would reject duplicates)', () => {
  const seen = new Set<string>();
  for (const rule of alerts) {
    const key = JSON.stringify([rule.alert, Object.entries(rule.labels).sort()]);
    assert.ok(!seen.has(key), `two ${rule.alert} rules have the same labels`);
    seen.add(key);
  }
});

test('every alerting rule is tested firing, and every alert is tested silent', () => {
  const cases = promtoolTests.flatMap(({ content }) => content.tests.flatMap((t) => t.alert_rule_test ?? []));
  for (const rule of alerts) {
    const fires = cases.some(
      (c) =>
        c.alertname === rule.alert &&
        (c.exp_alerts ?? []).some((a) => Object.entries(rule.labels).every(([k, v]) => a.exp_labels?.[k] === v)),
    );
    assert.ok(fires, `no promtool test expects ${rule.alert} ${JSON.stringify(rule.labels)} to fire`);
    const silent = cases.some((c) => c.alertname === rule.alert && (c.exp_alerts ?? []).length === 0);
    assert.ok(silent, `no promtool test expects ${rule.alert} to stay silent`);
  }
});

test('every recording rule has an expected value in a promtool test', () => {
  const cases = promtoolTests.flatMap(({ content }) => content.tests.flatMap((t) => t.promql_expr_test ?? []));
  for (const { record } of records) {
    const pattern = new RegExp(`(^|[^\\w:])${record.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}($|[^\\w:])`);
    const tested = cases.some((c) => pattern.test(c.expr) && (c.exp_samples ?? []).length > 0);
    assert.ok(tested, `no promql_expr_test expects a value of ${record}`);
  }
});

test('recording rules follow level:metric:operations and are recorded once', () => {
  const names = records.map((r) => r.record);
  assert.equal(new Set(names).size, names.length, 'a series is recorded twice');
  for (const name of names) assert.match(name, /^(instance|service|service_le|haddock):[a-z0-9_]+:[a-z0-9_]+$/, name);
  for (const window of ['5m', '30m', '1h', '2h', '6h', '1d', '3d']) {
    assert.ok(names.includes(`service:slo_errors_per_request:ratio_rate${window}`), `no SLO series over ${window}`);
  }
});

const durationCases: ReadonlyArray<[string, number | undefined]> = [
  ['5s', 5_000],
  ['1m', 60_000],
  ['1h30m', 5_400_000],
  ['26h', 93_600_000],
  ['8d', 691_200_000],
  ['250ms', 250],
  ['0', 0],
  ['0s', 0],
  ['', undefined],
  ['5', undefined],
  ['1m1h', undefined],
  ['soon', undefined],
];
for (const [text, ms] of durationCases) {
  test(`parseDuration("${text}") → ${ms}`, () => {
    assert.equal(parseDuration(text), ms);
  });
}

test('formatDuration writes the shortest Prometheus duration, which parses back', () => {
  for (const ms of [0, 250, 5_000, 60_000, 5_400_000, 93_600_000, 691_200_000]) {
    assert.equal(parseDuration(formatDuration(ms)), ms);
  }
  assert.equal(formatDuration(5_400_000), '1h30m');
});

const rulesWithFor = (...fors: string[]) =>
  `groups:\n  - name: g\n    rules:\n${fors.map((f, i) => `      - alert: A${i}\n        expr: up == 0\n        for: ${f}\n`).join('')}`;

test('shortenFor cuts longer waits to the maximum and leaves shorter ones', () => {
  const out = shortenFor(rulesWithFor('1m', '2s', '0s', '26h', '5s'), '5s');
  assert.deepEqual(
    alertingRules(out).map((r) => r.for),
    ['5s', '2s', '0s', '5s', '5s'],
  );
});

test('shortenFor refuses a "for" that is not a duration', () => {
  assert.throws(() => shortenFor(rulesWithFor('soon'), '5s'), /"for: soon" is not a Prometheus duration/);
});

test('prepareRuleFiles(test) shortens every "for" to 5s at most, keeps the rest, and the result passes promtool', async () => {
  const before = await Promise.all(ruleFiles.map((file) => readFile(file, 'utf8')));
  const { dir, remove } = await tempDir('rules-test');
  try {
    const written = await prepareRuleFiles(join(dir, 'rules'), 'test');
    assert.deepEqual(
      written.map((file) => file.slice(join(dir, 'rules').length + 1)),
      ruleFiles.map((file) => file.slice(RULES_DIR.length + 1)),
    );
    const preparedAlerts: ReturnType<typeof alertingRules> = [];
    for (const [i, file] of written.entries()) {
      const text = await readFile(file, 'utf8');
      preparedAlerts.push(...alertingRules(text));
      assert.deepEqual(recordingExpressions(text), recordingExpressions(rulesText[i] ?? ''), `${file}: recording rules changed`);
    }
    assert.equal(preparedAlerts.length, alerts.length);
    preparedAlerts.forEach((rule, i) => {
      const original = alerts[i];
      assert.ok(original !== undefined);
      assert.ok((parseDuration(rule.for ?? '') ?? Number.POSITIVE_INFINITY) <= 5_000, `${rule.alert}: for ${rule.for}`);
      assert.deepEqual({ ...rule, for: original.for }, original);
    });
    assert.ok(
      alerts.some((rule) => (parseDuration(rule.for ?? '0') ?? 0) > 5_000),
      'nothing was there to shorten',
    );
    assertSucceeds('promtool', ['check', 'rules', ...written]);
  } finally {
    await remove();
  }
  const after = await Promise.all(ruleFiles.map((file) => readFile(file, 'utf8')));
  assert.deepEqual(after, before, 'the committed rule files changed');
});

test('prepareRuleFiles(production) copies the rule files unchanged', async () => {
  const { dir, remove } = await tempDir('rules-production');
  try {
    const written = await prepareRuleFiles(dir, 'production');
    assert.equal(written.length, ruleFiles.length);
    for (const [i, file] of written.entries()) {
      assert.ok(file.startsWith('/'), `${file} is not absolute`);
      assert.equal(await readFile(file, 'utf8'), rulesText[i]);
    }
  } finally {
    await remove();
  }
});
