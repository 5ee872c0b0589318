// End to end: the local platform with its monitoring (Prometheus, Alertmanager
// and the alert sink, MONITORING_PROFILE=test) on free ports. Traffic goes
// through the gateway; every assertion on metrics goes through Prometheus's
// HTTP API, as Grafana and the alerts see them; the outage drill stops the
// quotes service for real and waits for Alertmanager's webhook. The
// operations part follows on the same platform: the outage becomes an incident
// in the operations service, and the `haddock` CLI reports it, scores the KPIs
// and runs the maintenance checklist against the running platform.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { dashboardExpressions, recordingExpressions, substituteVariables } from '../../src/platform/monitoring-config/index.ts';
import {
  findExecutable,
  loadConfig,
  MONITORING_INSTALL_COMMAND,
  type PlatformEvent,
  type PlatformHandle,
  type RunnerConfig,
  startPlatform,
} from '../../src/platform/runner/index.ts';
import { isGone, platformEnv, portIsFree, requireRedisServer, until, waitHealthy } from '../helpers/platform.ts';

const REPO = new URL('../..', import.meta.url).pathname;
const RULES_DIR = join(REPO, 'monitoring/prometheus/rules');
const DASHBOARD = join(REPO, 'monitoring/grafana/dashboards/haddock-overview.json');
const ADMIN = 'e2e-monitoring-admin-key-0123';
const JOBS = ['haddock-users', 'haddock-quotes', 'haddock-search', 'haddock-gateway', 'haddock-ops'];
const SERVICES = ['users', 'quotes', 'search'];
/** What Grafana puts in place of the dashboard's variables; short windows, as the test profile scrapes every second. */
const DASHBOARD_VARIABLES: Record<string, string> = {
  datasource: 'prometheus',
  namespace: 'haddock',
  service: '(users|quotes|search|gateway)',
  __rate_interval: '30s',
  __interval: '5s',
  __range: '1m',
  __range_s: '60',
  __range_ms: '60000',
};

/** Tests never skip: without a dependency they fail saying what to install. */
function requireBinaries(): void {
  requireRedisServer();
  const path = process.env.PATH;
  const alertmanager = ['alertmanager', 'prometheus-alertmanager'].some((name) => findExecutable(name, path) !== undefined);
  if (findExecutable('prometheus', path) === undefined || !alertmanager) {
    assert.fail(
      `Prometheus or Alertmanager is not on PATH; this test needs both. Install them with: ${MONITORING_INSTALL_COMMAND}`,
    );
  }
}

/** Live processes whose command line mentions `text` (the var dir is in Redis's, Prometheus's and Alertmanager's). */
function processesMentioning(text: string): string[] {
  const found: string[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replaceAll('\0', ' ');
      if (cmdline.includes(text)) found.push(`${entry}: ${cmdline.trim()}`);
    } catch {
      // Gone meanwhile.
    }
  }
  return found;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Sample {
  readonly metric: Record<string, string>;
  readonly value: [number, string];
}

/** Thrown for a query Prometheus refuses (bad PromQL): polling cannot fix it. */
class QueryError extends Error {}

async function instantQuery(prometheus: string, expr: string): Promise<Sample[]> {
  const response = await fetch(`${prometheus}/api/v1/query`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ query: expr }),
    signal: AbortSignal.timeout(5_000),
  });
  const body = (await response.json()) as { status: string; error?: string; data?: { resultType: string; result: unknown } };
  if (body.status !== 'success') throw new QueryError(`${expr}: ${body.error ?? response.status}`);
  const { resultType, result } = body.data ?? { resultType: 'vector', result: [] };
  if (resultType === 'scalar') return [{ metric: {}, value: result as [number, string] }];
  if (resultType !== 'vector') throw new QueryError(`${expr}: a ${resultType}, not an instant vector`);
  return result as Sample[];
}

async function seriesOf(prometheus: string, match: string): Promise<Record<string, string>[]> {
  const url = `${prometheus}/api/v1/series?${new URLSearchParams({ 'match[]': match, start: String(Date.now() / 1000 - 600) })}`;
  const body = (await (await fetch(url)).json()) as { status: string; data: Record<string, string>[] };
  assert.equal(body.status, 'success');
  return body.data;
}

interface SinkAlert {
  readonly receivedAt: string;
  readonly status: string;
  readonly alertname: string | null;
  readonly labels: Record<string, string>;
  readonly fingerprint: string | null;
}

/** A ServiceDown alert about the quotes service, by its `job` or `service` label (every one present must name quotes). */
function isQuotesDown(alert: SinkAlert, status: 'firing' | 'resolved', since: number): boolean {
  const { job, service } = alert.labels;
  const names = [job, service].filter((value) => value !== undefined);
  return (
    alert.alertname === 'ServiceDown' &&
    alert.status === status &&
    Date.parse(alert.receivedAt) >= since &&
    names.length > 0 &&
    names.every((value) => /quotes/.test(value))
  );
}

/** Runs the real `haddock` CLI; resolves with its exit code and output. */
function haddock(
  args: string[],
  env: Record<string, string | undefined>,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [join(REPO, 'bin/haddock.mjs'), ...args],
      { cwd: REPO, env, timeout: 90_000 },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

interface OpsIncident {
  id: string;
  service: string;
  status: string;
  source: string;
  opened_at: string;
  resolved_at?: string;
  timeline: { kind: string; text: string }[];
}

describe('monitoring and operations of the local platform (Prometheus, Alertmanager, operations service)', () => {
  let platform: PlatformHandle;
  let config: RunnerConfig;
  let varDir: string;
  let prometheus: string;
  let gw: string;
  const events: PlatformEvent[] = [];

  before(
    async () => {
      requireBinaries();
      varDir = mkdtempSync(join(tmpdir(), 'haddock-e2e-monitoring-'));
      const env = await platformEnv(varDir, {
        MONITORING: 'on',
        MONITORING_PROFILE: 'test',
        ADMIN_KEY: ADMIN,
        LOG_LEVEL: 'WARNING',
      });
      config = loadConfig(env);
      platform = await startPlatform(config, { onEvent: (event) => events.push(event) });
      assert.ok(platform.urls.prometheus, 'Prometheus started');
      assert.ok(platform.urls.alertmanager, 'Alertmanager started');
      prometheus = platform.urls.prometheus;
      gw = platform.urls.gateway;
    },
    { timeout: 90_000 },
  );
  after(async () => {
    await platform?.stop();
    if (varDir) rmSync(varDir, { recursive: true, force: true });
  });

  test('every series of the metrics contract reaches Prometheus with its labels', { timeout: 120_000 }, async () => {
    await waitHealthy(gw);
    const call = async (method: string, path: string, body?: unknown, token?: string) => {
      const headers: Record<string, string> = {};
      if (body !== undefined) headers['content-type'] = 'application/json';
      if (token !== undefined) headers.authorization = token;
      const response = await fetch(`${gw}${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await response.text();
      return { status: response.status, json: text === '' ? undefined : (JSON.parse(text) as unknown) };
    };
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) {
      statuses.push((await call('GET', '/quotes?limit=5')).status);
      statuses.push((await call('GET', '/quotes/random')).status);
      statuses.push((await call('GET', `/quotes/${40 + i}`)).status);
    }
    assert.deepEqual(statuses, Array(15).fill(200));
    for (let i = 0; i < 3; i++) assert.equal((await call('GET', `/quotes/${90_000 + i}`)).status, 404);
    const login = await call('POST', '/users/login', { name: 'Alice', password: 'inWonderland' });
    assert.equal(login.status, 200);
    const { token } = login.json as { token: string };
    assert.equal((await call('POST', '/users/login', { name: 'Alice', password: 'nope' })).status, 401);
    assert.equal((await call('POST', '/users/login', { name: 'Alice' })).status, 400);
    for (const keyword of ['tonnerre', 'aerolithe', 'moule']) {
      assert.equal((await call('GET', `/search?keyword=${keyword}`, undefined, token)).status, 200);
    }
    assert.equal((await call('GET', '/search', undefined, token)).status, 400);
    assert.equal((await call('GET', '/users', undefined, `Bearer ${token}`)).status, 200);

    // Scraped once the end of the burst is counted everywhere: the quotes 404s, the search 400, and both
    // 400s (login, then search) at the gateway, which every target scrapes on its own schedule.
    await until('Prometheus has scraped the traffic', 30_000, async () => {
      const [notFound, badSearch, gatewayBad, logins, jobs] = await Promise.all([
        instantQuery(prometheus, 'sum(http_requests_total{job="haddock-quotes", endpoint="/quotes/:id", http_status="404"})'),
        instantQuery(prometheus, 'sum(http_requests_total{job="haddock-search", http_status="400"})'),
        instantQuery(prometheus, 'sum(http_requests_total{job="haddock-gateway", http_status="400"})'),
        instantQuery(prometheus, 'sum(haddock_logins_total{result="success"})'),
        // Each job's requests (the ops service's are the runner's health probes) scraped at least once.
        instantQuery(prometheus, 'count(count by (job) (http_requests_total{job=~"haddock-.+"}))'),
      ]);
      const value = (samples: Sample[]) => Number(samples[0]?.value[1] ?? 0);
      const scraped =
        value(notFound) >= 3 &&
        value(badSearch) >= 1 &&
        value(gatewayBad) >= 2 &&
        value(logins) >= 1 &&
        value(jobs) >= JOBS.length;
      return scraped ? true : undefined;
    });

    const requests = await seriesOf(prometheus, 'http_requests_total{job=~"haddock-.+"}');
    for (const series of requests) {
      for (const label of ['service', 'method', 'endpoint', 'http_status']) {
        assert.ok(series[label], `http_requests_total has ${label}: ${JSON.stringify(series)}`);
      }
      assert.doesNotMatch(series.endpoint ?? '', /\/\d+(\/|$)/, `a route template, not a raw id: ${JSON.stringify(series)}`);
      assert.match(series.http_status ?? '', /^\d{3}$/);
    }
    assert.deepEqual([...new Set(requests.map((s) => s.job))].sort(), [...JOBS].sort(), 'every haddock job counts its requests');
    const quotesById = requests.filter((s) => s.job === 'haddock-quotes' && s.endpoint === '/quotes/:id' && s.method === 'GET');
    assert.deepEqual([...new Set(quotesById.map((s) => s.http_status))].sort(), ['200', '404']);
    assert.ok(requests.some((s) => s.job === 'haddock-search' && s.endpoint === '/search' && s.http_status === '400'));
    assert.ok(requests.some((s) => s.job === 'haddock-users' && s.method === 'POST' && s.http_status === '401'));

    for (const name of ['http_request_latency_seconds_bucket', 'http_requests_in_progress', 'process_resident_memory_bytes']) {
      const series = await seriesOf(prometheus, `${name}{job=~"haddock-.+"}`);
      assert.deepEqual([...new Set(series.map((s) => s.job))].sort(), [...JOBS].sort(), `${name} for every job`);
      if (name.endsWith('_bucket')) assert.ok(series.every((s) => s.le !== undefined && s.service !== undefined));
    }
    const redisLatency = await seriesOf(prometheus, 'haddock_redis_command_duration_seconds_bucket{job=~"haddock-.+"}');
    assert.ok(redisLatency.length > 0, 'haddock_redis_command_duration_seconds_bucket exists');

    const byJob = async (expr: string) =>
      Object.fromEntries((await instantQuery(prometheus, expr)).map((s) => [s.metric.job, Number(s.value[1])]));
    assert.deepEqual(await byJob('up{job=~"haddock-.+"}'), Object.fromEntries(JOBS.map((job) => [job, 1])));
    assert.deepEqual(
      await byJob('haddock_redis_up{job=~"haddock-(users|quotes|search)"}'),
      Object.fromEntries(SERVICES.map((s) => [`haddock-${s}`, 1])),
    );
    const quotesStored = await instantQuery(prometheus, 'haddock_quotes_stored');
    assert.ok(quotesStored.length > 0, 'haddock_quotes_stored exists');
    for (const sample of quotesStored) assert.equal(Number(sample.value[1]), 415, JSON.stringify(sample));
    const usersStored = await instantQuery(prometheus, 'haddock_users_stored');
    assert.ok(usersStored.length > 0, 'haddock_users_stored exists');
    for (const sample of usersStored) assert.equal(Number(sample.value[1]), 3, JSON.stringify(sample));
    const seeded = await byJob('haddock_seed_done');
    assert.equal(seeded['haddock-users'], 1, 'users seeded');
    assert.equal(seeded['haddock-quotes'], 1, 'quotes seeded');
    for (const [job, value] of Object.entries(seeded)) assert.equal(value, 1, `${job} seeded`);
    const logins = await instantQuery(prometheus, 'sum(haddock_logins_total{result="success"})');
    assert.ok(Number(logins[0]?.value[1]) >= 1);
  });

  test('a backup through the operations service passes its drill and feeds the backup metrics', {
    timeout: 120_000,
  }, async () => {
    const res = await fetch(`${gw}/ops/backups`, { method: 'POST', headers: { authorization: ADMIN } });
    const manifest = (await res.json()) as { keys: { total: number }; verification: { ok: boolean } };
    assert.equal(res.status, 201, JSON.stringify(manifest));
    assert.equal(manifest.verification.ok, true);
    assert.ok(manifest.keys.total > 5);
    await until('Prometheus has the backup timestamp', 30_000, async () => {
      const rows = await instantQuery(prometheus, 'haddock_backup_last_success_timestamp_seconds > 0');
      return rows.length > 0 ? rows : undefined;
    });
  });

  test('every PromQL expression of the recording rules and of the dashboard returns data', { timeout: 120_000 }, async (t) => {
    const expressions: { where: string; expr: string }[] = [];
    for (const file of readdirSync(RULES_DIR).filter((name) => /\.ya?ml$/.test(name))) {
      for (const { record, expr } of recordingExpressions(readFileSync(join(RULES_DIR, file), 'utf8'))) {
        expressions.push({ where: `${file}: record ${record}`, expr });
      }
    }
    for (const { panel, refId, expr } of dashboardExpressions(readFileSync(DASHBOARD, 'utf8'))) {
      // substituteVariables throws on a variable it has no value for.
      expressions.push({ where: `dashboard panel "${panel}" ${refId}`, expr: substituteVariables(expr, DASHBOARD_VARIABLES) });
    }
    assert.ok(
      expressions.some((e) => e.where.includes('record')),
      'the rule files have recording rules',
    );
    assert.ok(
      expressions.some((e) => e.where.includes('dashboard')),
      'the dashboard has queries',
    );

    // Keep some traffic flowing, so rates over short windows have something to count.
    let flowing = true;
    const traffic = (async () => {
      while (flowing) {
        await fetch(`${gw}/quotes/random`).then(
          (r) => r.arrayBuffer(),
          () => undefined,
        );
        await sleep(200);
      }
    })();
    const empty = new Map(expressions.map((e) => [`${e.where}\n${e.expr}`, e]));
    const started = Date.now();
    try {
      // Rates need two scrapes in their window, recorded series a rule evaluation: poll for up to a minute.
      while (empty.size > 0 && Date.now() - started < 60_000) {
        for (const [key, { expr }] of empty) {
          try {
            if ((await instantQuery(prometheus, expr)).length > 0) empty.delete(key);
          } catch (err) {
            if (err instanceof QueryError) assert.fail(`Prometheus refuses ${key.replace('\n', ': ')}: ${err.message}`);
            throw err;
          }
        }
        if (empty.size > 0) await sleep(1_000);
      }
    } finally {
      flowing = false;
      await traffic;
    }
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    t.diagnostic(`${expressions.length - empty.size} of ${expressions.length} expressions returned data within ${seconds} s`);
    assert.deepEqual(
      [...empty.values()].map(({ where, expr }) => `${where}: ${expr}`),
      [],
      'expressions that returned no sample for 60 s',
    );
  });

  test('stopping quotes fires ServiceDown to the alert sink; starting it again resolves it', { timeout: 120_000 }, async (t) => {
    const sink = platform.urls.alertSink;
    const alertsFile = join(varDir, 'log', 'alerts.jsonl');
    const received = async () => (await (await fetch(`${sink}/alerts`)).json()) as SinkAlert[];
    const inFile = () => {
      try {
        return readFileSync(alertsFile, 'utf8')
          .split('\n')
          .filter(Boolean)
          .map((line) => JSON.parse(line) as SinkAlert);
      } catch {
        return [];
      }
    };

    const stoppedAt = Date.now();
    const oldPid = platform.pids().quotes;
    await platform.stopChild('quotes');
    assert.ok(oldPid !== undefined && isGone(oldPid), 'the quotes process is gone');
    const firing = await until('a firing ServiceDown for quotes reaches the alert sink', 60_000, async () =>
      (await received()).find((a) => isQuotesDown(a, 'firing', stoppedAt)),
    );
    const firingAfter = Date.now() - stoppedAt;
    assert.equal(platform.pids().quotes, undefined, 'the supervisor did not restart quotes meanwhile');
    assert.ok(
      inFile().some((a) => isQuotesDown(a, 'firing', stoppedAt) && a.fingerprint === firing.fingerprint),
      `${alertsFile} has the firing alert`,
    );

    const restartedAt = Date.now();
    await platform.startChild('quotes');
    const again = await fetch(`${gw}/quotes/1`);
    await again.arrayBuffer();
    assert.equal(again.status, 200, 'quotes answers again');
    const resolved = await until('a resolved ServiceDown for quotes reaches the alert sink', 60_000, async () =>
      (await received()).find((a) => isQuotesDown(a, 'resolved', restartedAt)),
    );
    const resolvedAfter = Date.now() - restartedAt;
    assert.equal(resolved.fingerprint, firing.fingerprint, 'the same alert resolves');
    assert.ok(
      inFile().some((a) => isQuotesDown(a, 'resolved', restartedAt) && a.fingerprint === firing.fingerprint),
      `${alertsFile} has the resolved alert`,
    );
    t.diagnostic(
      `ServiceDown firing at the sink ${(firingAfter / 1000).toFixed(1)} s after the stop, ` +
        `resolved ${(resolvedAfter / 1000).toFixed(1)} s after the restart`,
    );

    // The same webhook reached the operations service: one incident, opened by monitoring, resolved by it.
    const incidents = async () =>
      (await (await fetch(`${gw}/ops/incidents`, { headers: { authorization: ADMIN } })).json()) as OpsIncident[];
    const incident = await until('the operations service resolved the quotes incident', 30_000, async () =>
      (await incidents()).find((i) => i.service === 'quotes' && i.status === 'resolved'),
    );
    assert.equal(incident.source, 'monitoring');
    assert.match(incident.id, /^INC-\d{4}-\d{3}$/);
    const kinds = incident.timeline.map((e) => e.kind);
    for (const kind of ['opened', 'alert_firing', 'alert_resolved', 'resolved'])
      assert.ok(kinds.includes(kind), `${kind} on the timeline`);
    assert.ok(
      incident.timeline.some((e) => /ServiceDown firing/.test(e.text)),
      'the timeline names the alert',
    );
    incidentId = incident.id;
  });

  let incidentId = '';
  const cliEnv = () => ({
    ...process.env,
    REDIS_URL: platform.urls.redis,
    HADDOCK_VAR_DIR: varDir,
    HADDOCK_URL: gw,
    // `haddock check` asks each service on its own port, as an operator's would.
    USERS_URL: platform.urls.users,
    QUOTES_URL: platform.urls.quotes,
    SEARCH_URL: platform.urls.search,
    PROMETHEUS_URL: prometheus,
    ALERTMANAGER_URL: platform.urls.alertmanager,
    NO_COLOR: '1',
  });

  test('haddock incident report renders that incident with its timeline, logs and metrics', { timeout: 120_000 }, async () => {
    assert.ok(incidentId, 'the outage test produced an incident');
    const fr = await haddock(['incident', 'report', incidentId, '--lang', 'fr'], cliEnv());
    assert.equal(fr.code, 0, fr.stderr);
    assert.match(fr.stdout, new RegExp(`^# Rapport d'incident - ${incidentId}$`, 'm'));
    assert.match(fr.stdout, /- \*\*Service affecté\*\* : quotes/);
    assert.match(fr.stdout, /- \*\*Détection\*\* : Système de monitoring/);
    assert.match(fr.stdout, /ServiceDown firing/);
    assert.match(fr.stdout, /- \*\*Durée\*\* : \d+ minutes/);
    assert.match(fr.stdout, /^# Revue post-incident/m);
    const en = await haddock(['incident', 'report', incidentId, '--lang', 'en'], cliEnv());
    assert.match(en.stdout, /- \*\*Affected service\*\* : quotes/);
  });

  test('haddock kpi on the running platform measures every row', { timeout: 120_000 }, async () => {
    // Recording rules need a few evaluations; the scorecard averages them over the window.
    const card = await until('the KPI rows from Prometheus have values', 60_000, async () => {
      const run = await haddock(['kpi', '--since', '1h', '--json'], cliEnv());
      assert.equal(run.code, 0, run.stderr);
      const parsed = JSON.parse(run.stdout) as { rows: { key: string; value: number | null; status: string }[] };
      const prom = parsed.rows.filter((r) =>
        ['availability', 'mean_response', 'requests_per_second', 'cpu', 'memory'].includes(r.key),
      );
      if (prom.every((r) => r.value !== null)) return parsed;
      throw new Error(`rows still without a value: ${JSON.stringify(prom.filter((r) => r.value === null))}`);
    });
    const row = (key: string) => {
      const found = card.rows.find((r) => r.key === key);
      assert.ok(found, `row ${key}`);
      return found;
    };
    const availability = row('availability').value as number;
    assert.ok(availability > 50 && availability <= 100, `availability ${availability}`);
    // Averaged over the whole window, right after start: small, and rounded, but measured.
    assert.ok((row('requests_per_second').value as number) >= 0);
    const mean = row('mean_response').value as number;
    assert.ok(mean > 0 && mean < 1_000, `mean response ${mean} ms`);
    const cpu = row('cpu').value as number;
    assert.ok(cpu >= 0 && cpu <= 100, `cpu ${cpu}%`);
    const memory = row('memory').value as number;
    assert.ok(memory > 0 && memory <= 100, `memory ${memory}%`);
    // Every incident here was opened by monitoring (the outage, and BackupMissing before the first
    // backup in the test profile): 100% proactive; MTTR is the mean of their real durations.
    const all = (await (await fetch(`${gw}/ops/incidents`, { headers: { authorization: ADMIN } })).json()) as OpsIncident[];
    assert.ok(all.length >= 1);
    assert.equal(row('proactive_detection').value, 100);
    const durations = all
      .filter((i) => i.resolved_at)
      .map((i) => (Date.parse(i.resolved_at ?? '') - Date.parse(i.opened_at)) / 60_000);
    const expected = durations.reduce((x, y) => x + y, 0) / durations.length;
    assert.ok(Math.abs((row('mttr').value as number) - expected) < 0.1, `MTTR ${row('mttr').value} vs ${expected}`);
    assert.equal(row('mttr').status, 'green');
    assert.equal(row('backup_freshness').status, 'green');
    assert.equal(row('restore_drill').status, 'green');
  });

  test('haddock check on the running platform passes and reports what it saw', { timeout: 120_000 }, async () => {
    const run = await haddock(['check', '--json', '--no-audit'], cliEnv());
    const report = JSON.parse(run.stdout) as {
      ok: boolean;
      items: { name: string; status: string; data?: Record<string, unknown> }[];
    };
    const item = (name: string) => {
      const found = report.items.find((i) => i.name === name);
      assert.ok(found, `${name} in ${report.items.map((i) => i.name).join(', ')}`);
      return found;
    };
    assert.equal(item('services healthy').status, 'pass');
    assert.equal(item('gateway up').status, 'pass');
    assert.equal(item('redis reachable').status, 'pass');
    assert.ok((item('redis reachable').data?.connected_clients as number) >= 4, 'the services are connected');
    assert.ok((item('redis reachable').data?.maxmemory_bytes as number) > 0, 'the private Redis has a memory ceiling');
    assert.ok((item('disk space').data?.free_bytes as number) > 0);
    assert.equal(item('last successful backup').status, 'pass');
    assert.equal(run.code, report.ok ? 0 : 1);
  });

  test('stop() leaves no process behind (Prometheus, Alertmanager and the sink included) and frees every port', {
    timeout: 120_000,
  }, async () => {
    const pids = { ...platform.pids() };
    for (const name of ['redis', 'users', 'quotes', 'search', 'ops', 'gateway', 'alert-sink', 'alertmanager', 'prometheus']) {
      assert.equal(typeof pids[name], 'number', `${name} runs`);
    }
    const firstEvent = events.length;
    await platform.stop();
    for (const [name, pid] of Object.entries(pids)) assert.ok(pid !== undefined && isGone(pid), `${name} (pid ${pid}) is gone`);
    assert.deepEqual(processesMentioning(varDir), [], `no process mentions ${varDir}`);
    for (const [name, port] of Object.entries(config.ports)) assert.ok(await portIsFree(port), `${name} port ${port} is free`);
    const order = events.slice(firstEvent).flatMap((e) => (e.type === 'stopped' ? [e.name] : []));
    assert.deepEqual(order.slice(0, 3), ['prometheus', 'alertmanager', 'alert-sink'], 'monitoring stops first');
  });
});
