import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, type TestContext, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { metricsAppOf } from '../../src/lib/http/index.ts';
import {
  ADMIN,
  ADMIN_KEY,
  eventually,
  login,
  quotesApp,
  SEED_QUOTE_COUNT,
  SEED_USERS,
  scoped,
  searchApp,
  usersApp,
} from '../helpers/apps.ts';
import { captureLogs, find, labelValues, metricTypes, parseMetrics, type Sample, value } from '../helpers/metrics.ts';
import { cleanPrefix, requireRedis, startPrivateRedis, testRedisUrl, uniquePrefix } from '../helpers/redis.ts';

const url = testRedisUrl();
const filePrefix = uniquePrefix('metrics');
let count = 0;
const freshPrefix = () => `${filePrefix}${++count}:`;
const SLOW = { timeout: 30_000 };
const [alice] = SEED_USERS;

before(() => requireRedis(url));
after(() => cleanPrefix(url, filePrefix));

/** Scrapes the app's private metrics listener, as Prometheus does (the public app has no /metrics). */
async function scrape(app: FastifyInstance): Promise<{ text: string; samples: Sample[] }> {
  const res = await metricsAppOf(app).inject({ url: '/metrics' });
  assert.equal(res.statusCode, 200, res.body);
  assert.match(String(res.headers['content-type']), /^text\/plain; version=0\.0\.4/);
  return { text: res.body, samples: parseMetrics(res.body) };
}

/** Every series each service exposes, with its type: the contract of the alert rules and dashboards. */
const COMMON_SERIES: Record<string, string> = {
  http_requests_total: 'counter',
  http_request_latency_seconds: 'histogram',
  http_requests_in_progress: 'gauge',
  haddock_redis_command_duration_seconds: 'histogram',
  haddock_redis_errors_total: 'counter',
  haddock_redis_up: 'gauge',
  haddock_redis_memory_used_bytes: 'gauge',
  haddock_redis_maxmemory_bytes: 'gauge',
  haddock_redis_memory_full: 'gauge',
  haddock_redis_write_refusals_total: 'counter',
  haddock_seed_done: 'gauge',
  haddock_seed_failures_total: 'counter',
  haddock_process_memory_limit_bytes: 'gauge',
  haddock_process_cpu_limit_cores: 'gauge',
  haddock_build_info: 'gauge',
  process_cpu_seconds_total: 'counter',
  process_resident_memory_bytes: 'gauge',
  nodejs_heap_size_used_bytes: 'gauge',
  nodejs_eventloop_lag_seconds: 'gauge',
};

describe('GET /metrics of each service', { timeout: 60_000 }, () => {
  const prefix = freshPrefix();
  let quotes: FastifyInstance;
  let users: FastifyInstance;
  let search: FastifyInstance;

  before(async () => {
    [quotes, users] = await Promise.all([quotesApp({ prefix }), usersApp({ prefix })]);
    search = await searchApp({ prefix });
  });
  after(() => Promise.all([quotes?.close(), users?.close(), search?.close()]));

  test('quotes: every series, labelled with service="quotes", after some requests', async () => {
    assert.equal((await quotes.inject({ url: '/quotes/12' })).statusCode, 200);
    assert.equal((await quotes.inject({ url: '/quotes/12345' })).statusCode, 404);
    const { text, samples } = await scrape(quotes);
    const types = metricTypes(text);
    for (const [name, type] of Object.entries({ ...COMMON_SERIES, haddock_quotes_stored: 'gauge' })) {
      assert.equal(types.get(name), type, `${name} declared as a ${type}`);
      assert.ok(
        find(samples, name.replace(/_seconds$/, '_seconds_count')).length + find(samples, name).length > 0,
        `${name} has samples`,
      );
    }
    for (const sample of samples) assert.equal(sample.labels.service, 'quotes', `${sample.name} has service="quotes"`);
    assert.match(text, /^http_requests_total\{method="GET",endpoint="\/quotes\/:id",http_status="200",service="quotes"\} 1$/m);
    assert.equal(value(samples, 'http_requests_total', { method: 'GET', endpoint: '/quotes/:id', http_status: '404' }), 1);
    assert.equal(value(samples, 'http_request_latency_seconds_count', { method: 'GET', endpoint: '/quotes/:id' }), 2);
    assert.deepEqual(
      find(samples, 'http_request_latency_seconds_bucket', { endpoint: '/quotes/:id' }).map((s) => s.labels.le),
      ['0.001', '0.0025', '0.005', '0.01', '0.025', '0.05', '0.1', '0.25', '0.5', '1', '2', '5', '+Inf'],
    );
    assert.equal(value(samples, 'haddock_quotes_stored'), SEED_QUOTE_COUNT);
    assert.equal(value(samples, 'haddock_redis_up'), 1);
    assert.equal(value(samples, 'haddock_seed_done'), 1);
    assert.equal(value(samples, 'haddock_seed_failures_total'), 0);
    assert.equal(value(samples, 'haddock_redis_errors_total'), 0, 'a healthy start fails no command');
    assert.ok(value(samples, 'haddock_redis_memory_used_bytes') > 0);
    assert.ok(value(samples, 'haddock_redis_maxmemory_bytes') >= 0);
    assert.ok(value(samples, 'haddock_process_memory_limit_bytes') > 0);
    assert.ok(value(samples, 'haddock_process_cpu_limit_cores') > 0);
    assert.equal(find(samples, 'haddock_build_info')[0]?.labels.version, '0.1.0');
    assert.ok(
      value(samples, 'haddock_redis_command_duration_seconds_count', { command: 'hget' }) >= 2,
      'GET /quotes/:id is one HGET',
    );
    for (const command of labelValues(samples, 'haddock_redis_command_duration_seconds_count', 'command')) {
      assert.match(command, /^[a-z]+$/, 'command labels are lowercased names');
    }
  });

  test('/quotes/12345 and /quotes/999999 give one endpoint label, /quotes/:id; an unknown path gives "unmatched"', async () => {
    for (const path of ['/quotes/12345', '/quotes/999999', '/quotes/7', '/no/such/route', '/quotes/1/extra'])
      await quotes.inject({ url: path });
    const { samples } = await scrape(quotes);
    const endpoints = labelValues(samples, 'http_requests_total', 'endpoint');
    assert.ok(endpoints.includes('/quotes/:id'));
    assert.ok(endpoints.includes('unmatched'));
    for (const endpoint of endpoints) assert.ok(!/\d/.test(endpoint), `no raw id in endpoint "${endpoint}"`);
    assert.ok(value(samples, 'http_requests_total', { endpoint: 'unmatched', http_status: '404' }) >= 2);
  });

  test('/metrics is not counted, and the in-progress gauge is back to 0 once the requests are answered', async () => {
    await Promise.all(Array.from({ length: 20 }, (_, i) => quotes.inject({ url: `/quotes/${i + 1}` })));
    await scrape(quotes);
    const { samples } = await scrape(quotes);
    assert.deepEqual(find(samples, 'http_requests_total', { endpoint: '/metrics' }), []);
    const inProgress = find(samples, 'http_requests_in_progress');
    assert.ok(inProgress.length > 0);
    for (const sample of inProgress) assert.equal(sample.value, 0, `${sample.labels.endpoint} in progress`);
  });

  test('users: logins counted by result, all three present from the start; users stored', async () => {
    const fresh = await usersApp({ prefix });
    try {
      const before = (await scrape(fresh)).samples;
      for (const result of ['success', 'unknown_user', 'bad_password']) {
        assert.equal(value(before, 'haddock_logins_total', { result }), 0, `${result} starts at 0`);
      }
      await login(fresh, alice.name, alice.password);
      await login(fresh, alice.name, alice.password);
      await fresh.inject({ method: 'POST', url: '/users/login', payload: { name: alice.name, password: 'wrong' } });
      await fresh.inject({ method: 'POST', url: '/users/login', payload: { name: 'Nobody', password: 'whatever' } });
      await fresh.inject({ method: 'POST', url: '/users/login', payload: { name: alice.name } });
      const { samples } = await scrape(fresh);
      assert.equal(value(samples, 'haddock_logins_total', { result: 'success' }), 2);
      assert.equal(value(samples, 'haddock_logins_total', { result: 'bad_password' }), 1);
      assert.equal(value(samples, 'haddock_logins_total', { result: 'unknown_user' }), 1);
      assert.equal(value(samples, 'haddock_users_stored'), SEED_USERS.length);
      assert.equal(value(samples, 'haddock_seed_done'), 1);
      assert.equal(value(samples, 'haddock_redis_up'), 1);
      assert.equal(value(samples, 'http_requests_total', { endpoint: '/users/login', http_status: '401' }), 2);
      assert.equal(value(samples, 'http_requests_total', { endpoint: '/users/login', http_status: '400' }), 1);
      for (const sample of samples) assert.equal(sample.labels.service, 'users');
    } finally {
      await fresh.close();
    }
  });

  test('search: every common series, seed_done 1 although it does not seed, no stored-count gauge', async () => {
    const token = await login(users, alice.name, alice.password);
    assert.equal((await search.inject({ url: '/search?keyword=tonnerre', headers: { authorization: token } })).statusCode, 200);
    const { text, samples } = await scrape(search);
    const types = metricTypes(text);
    for (const [name, type] of Object.entries(COMMON_SERIES)) assert.equal(types.get(name), type, name);
    assert.equal(value(samples, 'haddock_seed_done'), 1);
    assert.equal(value(samples, 'haddock_redis_up'), 1);
    assert.equal(
      value(samples, 'http_requests_total', { method: 'GET', endpoint: '/search', http_status: '200', service: 'search' }),
      1,
    );
    assert.equal(types.get('haddock_quotes_stored'), undefined);
    assert.equal(types.get('haddock_logins_total'), undefined);
  });

  test('/metrics is not in the OpenAPI document nor on the public app; the metrics listener needs no credential', async () => {
    for (const app of [quotes, users, search]) {
      const doc = (await app.inject({ url: '/apidocs/json' })).json() as { paths: Record<string, unknown> };
      assert.ok(!Object.keys(doc.paths).some((p) => p.includes('metrics')), Object.keys(doc.paths).join(', '));
      const open = await app.inject({ url: '/metrics' });
      assert.equal(open.statusCode, 404);
      assert.deepEqual(open.json(), { error: 'Route non trouvée' });
      assert.equal((await metricsAppOf(app).inject({ url: '/metrics' })).statusCode, 200);
    }
  });

  test('two apps in one process keep separate registries', async () => {
    const other = await quotesApp({ prefix });
    try {
      await other.inject({ url: '/quotes/3' });
      await other.inject({ url: '/quotes/3' });
      const mine = (await scrape(other)).samples;
      assert.equal(value(mine, 'http_requests_total', { endpoint: '/quotes/:id', http_status: '200' }), 2);
      const theirs = (await scrape(quotes)).samples;
      assert.ok(value(theirs, 'http_requests_total', { endpoint: '/quotes/:id', http_status: '200' }) > 2);
    } finally {
      await other.close();
    }
  });
});

describe('health routes', { timeout: 30_000 }, () => {
  test('GET /quotes/health/ready → 200 with every check passing; /health keeps the exact original body', async (t) => {
    const app = await scoped(t, quotesApp({ prefix: freshPrefix() }));
    const ready = await app.inject({ url: '/quotes/health/ready' });
    assert.equal(ready.statusCode, 200);
    const body = ready.json() as { message: string; checks: Array<Record<string, unknown>> };
    assert.equal(body.message, 'healthy');
    assert.deepEqual(
      body.checks.map((c) => [c.name, c.status]),
      [
        ['redis', 'pass'],
        ['seed', 'pass'],
      ],
    );
    for (const check of body.checks) assert.equal(typeof check.latency_ms, 'number');
    assert.equal((await app.inject({ url: '/quotes/health' })).body, '{"message":"healthy"}');
    assert.deepEqual((await app.inject({ url: '/quotes/health/live' })).json(), { message: 'alive' });
  });

  test('GET /search/health/ready → the redis and index checks (search does not seed; ready once its index is built)', async (t) => {
    const app = await scoped(t, searchApp({ prefix: freshPrefix() }));
    await eventually(async () => (await app.inject({ url: '/search/health/ready' })).statusCode === 200, 5_000, 'search ready');
    const body = (await app.inject({ url: '/search/health/ready' })).json() as {
      checks: Array<{ name: string; status: string }>;
    };
    assert.deepEqual(
      body.checks.map((c) => [c.name, c.status]),
      [
        ['redis', 'pass'],
        ['index', 'pass'],
      ],
    );
  });

  test('the health routes are documented in OpenAPI, ready included', async (t) => {
    const app = await scoped(t, usersApp({ prefix: freshPrefix() }));
    const doc = (await app.inject({ url: '/apidocs/json' })).json() as {
      paths: Record<string, { get?: { responses?: Record<string, unknown> } }>;
    };
    for (const path of ['/users/health', '/users/health/ready', '/users/health/live']) assert.ok(doc.paths[path]?.get, path);
    assert.ok(doc.paths['/users/health/ready']?.get?.responses?.['503'], 'the unhealthy answer is documented');
  });
});

describe('when Redis is down', { timeout: 60_000 }, () => {
  test(
    'the scrape still answers at once: redis_up 0, memory series left out, failed commands counted; ready says why',
    SLOW,
    async (t) => {
      const redis = await startPrivateRedis();
      t.after(() => redis.stop());
      const app = await scoped(t, quotesApp({ prefix: 'metrics-outage:', redisUrl: redis.url }));
      const up = (await scrape(app)).samples;
      assert.equal(value(up, 'haddock_redis_up'), 1);
      assert.equal(value(up, 'haddock_quotes_stored'), SEED_QUOTE_COUNT);

      await redis.stop();
      assert.equal((await app.inject({ url: '/quotes/1' })).statusCode, 503);
      const started = performance.now();
      const { text, samples } = await scrape(app);
      assert.ok(performance.now() - started < 1_500, 'a scrape never waits on a dead Redis for long');
      assert.equal(value(samples, 'haddock_redis_up'), 0);
      assert.deepEqual(find(samples, 'haddock_redis_memory_used_bytes'), []);
      assert.deepEqual(find(samples, 'haddock_redis_maxmemory_bytes'), []);
      assert.deepEqual(find(samples, 'haddock_quotes_stored'), []);
      assert.match(text, /^# TYPE haddock_redis_memory_used_bytes gauge$/m, 'the series is declared, only its sample is absent');
      assert.ok(value(samples, 'haddock_redis_errors_total') >= 1, 'the refused HGET is counted');
      assert.equal(value(samples, 'http_requests_total', { endpoint: '/quotes/:id', http_status: '503' }), 1);

      const ready = await app.inject({ url: '/quotes/health/ready' });
      assert.equal(ready.statusCode, 503);
      const body = ready.json() as { message: string; checks: Array<{ name: string; status: string; error?: string }> };
      assert.equal(body.message, 'unhealthy');
      const redisCheck = body.checks.find((c) => c.name === 'redis');
      assert.equal(redisCheck?.status, 'fail');
      assert.equal(typeof redisCheck?.error, 'string');
    },
  );
});

describe('seeding metrics', { timeout: 60_000 }, () => {
  test(
    'Redis absent at start: seed failures counted and seed_done 0, then 1 once Redis is there and the seed loaded',
    SLOW,
    async (t) => {
      const redis = await startPrivateRedis();
      t.after(() => redis.stop());
      await redis.stop();
      // ready() waits for its first seeding attempt, which fails without Redis.
      const app = await scoped(t, quotesApp({ prefix: 'metrics-seed:', redisUrl: redis.url }));
      const failing = (await scrape(app)).samples;
      assert.equal(value(failing, 'haddock_seed_done'), 0);
      assert.ok(value(failing, 'haddock_seed_failures_total') >= 1);
      assert.equal(value(failing, 'haddock_redis_up'), 0);
      assert.equal((await app.inject({ url: '/quotes/health' })).statusCode, 503);

      await redis.restart();
      const deadline = Date.now() + 15_000;
      let samples = failing;
      while (Date.now() < deadline && value(samples, 'haddock_seed_done') !== 1) {
        await new Promise((resolve) => setTimeout(resolve, 200));
        samples = (await scrape(app)).samples;
      }
      assert.equal(value(samples, 'haddock_seed_done'), 1);
      assert.equal(value(samples, 'haddock_redis_up'), 1);
      assert.equal(value(samples, 'haddock_quotes_stored'), SEED_QUOTE_COUNT);
    },
  );
});

describe('request logs', { timeout: 30_000 }, () => {
  async function loggedUsers(t: TestContext) {
    const logs = captureLogs();
    const app = await scoped(t, usersApp({ prefix: freshPrefix(), options: { logger: true, logStream: logs.stream } }));
    return { app, logs };
  }

  test('one completion line per request: reqId, method, route template, path, status, duration_ms, level and severity', async (t) => {
    const { app, logs } = await loggedUsers(t);
    const before = logs.lines.length;
    const res = await app.inject({ method: 'DELETE', url: '/users/nobody?token=abc', headers: ADMIN });
    assert.equal(res.statusCode, 404);
    const lines = logs.entries().slice(before);
    const completions = lines.filter((l) => l.msg === 'request completed');
    assert.equal(completions.length, 1, JSON.stringify(lines));
    assert.equal(lines.filter((l) => l.msg === 'incoming request').length, 0, "Fastify's own request lines are off");
    const line = completions[0] as Record<string, unknown>;
    assert.equal(line.reqId, res.headers['x-request-id']);
    assert.equal(line.method, 'DELETE');
    assert.equal(line.route, '/users/:id');
    assert.equal(line.url, '/users/nobody', 'the query string is dropped');
    assert.equal(line.status, 404);
    assert.equal(typeof line.duration_ms, 'number');
    assert.equal(line.level, 'info');
    assert.equal(line.severity, 'INFO');
    assert.equal(line.service, 'users');
    assert.match(String(line.time), /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
  });

  test('the client X-Request-Id is in the completion line and the response header; an unsafe one is replaced in both', async (t) => {
    const { app, logs } = await loggedUsers(t);
    const res = await app.inject({ url: '/', headers: { 'x-request-id': 'support-ticket-42' } });
    assert.equal(res.headers['x-request-id'], 'support-ticket-42');
    assert.ok(logs.entries().some((l) => l.msg === 'request completed' && l.reqId === 'support-ticket-42' && l.route === '/'));

    const unsafe = await app.inject({ url: '/', headers: { 'x-request-id': 'bad id <script>' } });
    const replaced = String(unsafe.headers['x-request-id']);
    assert.match(replaced, /^[0-9a-f-]{36}$/);
    assert.ok(!logs.lines.some((l) => l.includes('<script>')), 'the unsafe id never reaches the log');
    assert.ok(logs.entries().some((l) => l.msg === 'request completed' && l.reqId === replaced));
  });

  test('levels: 4xx at info, unknown routes as "unmatched", 5xx at error with severity ERROR, probes at debug', async (t) => {
    const logs = captureLogs();
    const redis = await startPrivateRedis();
    t.after(() => redis.stop());
    const app = await scoped(
      t,
      quotesApp({
        prefix: 'metrics-logs:',
        redisUrl: redis.url,
        // Without ADMIN_KEY the service warns that the local default key is in force.
        env: { LOG_LEVEL: 'DEBUG', ADMIN_KEY: undefined },
        options: { logger: true, logStream: logs.stream },
      }),
    );
    await app.inject({ url: '/no/such/route' });
    await app.inject({ url: '/quotes/health' });
    await redis.stop();
    await app.inject({ url: '/quotes/1' });
    const completions = logs.entries().filter((l) => l.msg === 'request completed');
    const byUrl = (path: string) => completions.find((l) => l.url === path) as Record<string, unknown>;
    assert.deepEqual([byUrl('/no/such/route').route, byUrl('/no/such/route').level], ['unmatched', 'info']);
    assert.deepEqual([byUrl('/quotes/health').level, byUrl('/quotes/health').severity], ['debug', 'DEBUG']);
    assert.deepEqual([byUrl('/quotes/1').status, byUrl('/quotes/1').level, byUrl('/quotes/1').severity], [503, 'error', 'ERROR']);
    const warning = logs.entries().find((l) => typeof l.msg === 'string' && l.msg.startsWith('ADMIN_KEY is not set'));
    assert.deepEqual([warning?.level, warning?.severity], ['warn', 'WARNING']);
  });

  test('no password, token or Authorization value ever reaches the log', async (t) => {
    const { app, logs } = await loggedUsers(t);
    const token = await login(app, alice.name, alice.password);
    await app.inject({ method: 'POST', url: '/users/login', payload: { name: alice.name, password: 'wrong-but-secret' } });
    await app.inject({ url: '/users/me', headers: { authorization: `Bearer ${token}` } });
    await app.inject({ url: `/users/me?token=${token}`, headers: { authorization: token } });
    await app.inject({
      method: 'POST',
      url: '/users',
      headers: ADMIN,
      payload: { id: 'h', name: 'Haddock', password: 'mille-sabords' },
    });
    await app.inject({ method: 'POST', url: '/users/logout', headers: { authorization: token } });
    const text = logs.lines.join('\n');
    assert.ok(logs.entries().filter((l) => l.msg === 'request completed').length >= 6, text);
    for (const secret of [alice.password, 'wrong-but-secret', 'mille-sabords', token, ADMIN_KEY]) {
      assert.ok(!text.includes(secret), `"${secret}" is in the logs`);
    }
  });

  test('LOG_FILE: the same JSON lines also go to the file', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'haddock-logfile-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const logs = captureLogs();
    const file = join(dir, 'nested', 'quotes.log');
    const app = await quotesApp({
      prefix: freshPrefix(),
      env: { LOG_FILE: file },
      options: { logger: true, logStream: logs.stream },
    });
    await app.inject({ url: '/quotes/2', headers: { 'x-request-id': 'to-the-file' } });
    await app.close();
    const fileLines = readFileSync(file, 'utf8').trim().split('\n');
    assert.deepEqual(fileLines, logs.lines);
    assert.ok(fileLines.some((l) => (JSON.parse(l) as { reqId?: string }).reqId === 'to-the-file'));
    assert.deepEqual(readdirSync(join(dir, 'nested')), ['quotes.log']);
  });
});
