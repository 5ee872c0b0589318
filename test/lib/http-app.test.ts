import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect } from 'node:net';
import { describe, test } from 'node:test';
import type { FastifyInstance, InjectOptions } from 'fastify';
import { ConfigError, type Env, EnvReader, type HttpConfig, type LogConfig, readHttpConfig } from '../../src/lib/config/index.ts';
import { appError } from '../../src/lib/errors/index.ts';
import { createHttpApp, type HttpAppOptions } from '../../src/lib/http/index.ts';
import { createRegistry } from '../../src/lib/metrics/index.ts';
import { captureLogs, find, parseMetrics } from '../helpers/metrics.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const LOG: LogConfig = { logLevel: 'info', logFile: undefined, logStdout: true };

function httpConfig(env: Env = {}): HttpConfig {
  const reader = new EnvReader(env);
  const config = readHttpConfig(reader);
  reader.done();
  return config;
}

/** An app from the factory with a few routes that fail in known ways; closed when the test ends. */
async function app(
  t: { after: (fn: () => Promise<unknown>) => void },
  options: Partial<HttpAppOptions> = {},
  env: Env = {},
): Promise<FastifyInstance> {
  const built = await createHttpApp({ service: 'test', config: { ...LOG, ...httpConfig(env) }, logger: false, ...options });
  built.get('/boom', async () => {
    throw new Error('database password is hunter2');
  });
  built.get('/missing-quote', async () => {
    throw appError('QUOTE_NOT_FOUND');
  });
  built.get('/items/:id', async (request) => ({ id: (request.params as { id: string }).id }));
  built.post(
    '/echo',
    { schema: { body: { type: 'object', properties: { name: { type: 'string' } }, required: ['name'] } } },
    async (request) => request.body,
  );
  t.after(() => built.close());
  return built;
}

describe('readHttpConfig', () => {
  test('defaults: 30 s to send a request, 10 s for its headers, 72 s keep-alive, checked each second, instrumented, unsupervised', () => {
    assert.deepEqual(httpConfig(), {
      httpRequestTimeoutMs: 30_000,
      httpHeadersTimeoutMs: 10_000,
      httpKeepAliveTimeoutMs: 72_000,
      httpConnectionsCheckIntervalMs: 1_000,
      httpInstrumentation: true,
      supervised: false,
    });
    const set = httpConfig({
      HTTP_REQUEST_TIMEOUT_MS: '60000',
      HTTP_HEADERS_TIMEOUT_MS: '5000',
      HTTP_KEEP_ALIVE_TIMEOUT_MS: '65000',
      HTTP_CONNECTIONS_CHECK_INTERVAL_MS: '250',
      HTTP_INSTRUMENTATION: 'false',
      HADDOCK_SUPERVISED: '1',
    });
    assert.deepEqual(
      [
        set.httpRequestTimeoutMs,
        set.httpHeadersTimeoutMs,
        set.httpKeepAliveTimeoutMs,
        set.httpConnectionsCheckIntervalMs,
        set.httpInstrumentation,
        set.supervised,
      ],
      [60_000, 5_000, 65_000, 250, false, true],
    );
  });

  test('every bad value is reported at once, a headers timeout longer than the request timeout included', () => {
    assert.throws(
      () =>
        httpConfig({
          HTTP_REQUEST_TIMEOUT_MS: '15000',
          HTTP_HEADERS_TIMEOUT_MS: '20000',
          HTTP_KEEP_ALIVE_TIMEOUT_MS: 'soon',
          HTTP_CONNECTIONS_CHECK_INTERVAL_MS: '10',
          HTTP_INSTRUMENTATION: 'maybe',
        }),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.equal(err.problems.length, 4, err.message);
        assert.match(err.message, /HTTP_CONNECTIONS_CHECK_INTERVAL_MS must be between 100 and 60000/);
        assert.match(err.message, /HTTP_KEEP_ALIVE_TIMEOUT_MS must be an integer/);
        assert.match(err.message, /HTTP_INSTRUMENTATION must be true or false/);
        assert.match(err.message, /HTTP_HEADERS_TIMEOUT_MS \(20000\) must not exceed HTTP_REQUEST_TIMEOUT_MS \(15000\)/);
        return true;
      },
    );
    assert.throws(() => httpConfig({ HTTP_REQUEST_TIMEOUT_MS: '10' }), /HTTP_REQUEST_TIMEOUT_MS must be between 1000 and 600000/);
  });
});

describe('createHttpApp', { timeout: 30_000 }, () => {
  test('the listener takes its timeouts from the configuration', async (t) => {
    const built = await app(
      t,
      {},
      { HTTP_REQUEST_TIMEOUT_MS: '20000', HTTP_HEADERS_TIMEOUT_MS: '4000', HTTP_KEEP_ALIVE_TIMEOUT_MS: '61000' },
    );
    await built.listen({ host: '127.0.0.1', port: 0 });
    assert.deepEqual(
      [built.server.requestTimeout, built.server.headersTimeout, built.server.keepAliveTimeout],
      [20_000, 4_000, 61_000],
    );
  });

  test('a client too slow to send its headers → 408 with the catalogue body, connection closed', async (t) => {
    const built = await app(t, {}, { HTTP_REQUEST_TIMEOUT_MS: '1000', HTTP_HEADERS_TIMEOUT_MS: '1000' });
    const base = new URL(await built.listen({ host: '127.0.0.1', port: 0 }));
    const started = Date.now();
    const socket = connect(Number(base.port), '127.0.0.1');
    socket.write('GET /items/1 HTTP/1.1\r\nHost: x\r\n');
    let text = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      text += chunk;
    });
    await once(socket, 'close');
    const elapsed = Date.now() - started;
    assert.match(text, /^HTTP\/1\.1 408 /);
    assert.match(text, /content-type: application\/json/i);
    assert.ok(text.endsWith('{"error":"Requête trop lente à recevoir"}'), text);
    assert.ok(elapsed >= 900 && elapsed < 5_000, `closed after ${elapsed} ms`);
  });

  test('every error answer is {"error": …} from the catalogue, internals never shown', async (t) => {
    const built = await app(t, { bodyLimitBytes: 1_024 });
    const cases: Array<[InjectOptions, number, string]> = [
      [{ url: '/boom' }, 500, 'Erreur interne du serveur'],
      [{ url: '/missing-quote' }, 404, 'Citation non trouvée'],
      [{ url: '/nowhere' }, 404, 'Route non trouvée'],
      [{ url: '/items/%E0%A4%A' }, 400, 'Requête invalide'],
      [{ url: `/items/${'x'.repeat(201)}` }, 414, 'URL trop longue'],
      [
        { method: 'POST', url: '/echo', payload: '{"name":', headers: { 'content-type': 'application/json' } },
        400,
        'Corps JSON invalide',
      ],
      [
        { method: 'POST', url: '/echo', payload: 'name', headers: { 'content-type': 'text/plain' } },
        415,
        'Type de contenu non supporté (application/json attendu)',
      ],
      [{ method: 'POST', url: '/echo', payload: { name: 'x'.repeat(2_000) } }, 413, 'Corps de requête trop volumineux'],
      [{ method: 'POST', url: '/echo', payload: {} }, 400, "Champ 'name' requis"],
    ];
    for (const [request, status, message] of cases) {
      const response = await built.inject(request);
      assert.equal(response.statusCode, status, `${JSON.stringify(request)}: ${response.body}`);
      assert.deepEqual(response.json(), { error: message });
    }
    assert.deepEqual((await built.inject({ url: '/items/7' })).json(), { id: '7' });
  });

  test('x-request-id: a sane client id is kept and echoed, anything else replaced by a UUID', async (t) => {
    const built = await app(t);
    const kept = await built.inject({ url: '/items/1', headers: { 'x-request-id': 'trace-42.a:b' } });
    assert.equal(kept.headers['x-request-id'], 'trace-42.a:b');
    for (const headers of [{}, { 'x-request-id': 'no spaces allowed' }]) {
      const replaced = await built.inject({ url: '/nowhere', headers });
      assert.match(String(replaced.headers['x-request-id']), UUID);
    }
  });

  for (const instrumentation of [true, false]) {
    test(`instrumentation ${instrumentation ? 'on: HTTP series and one completion line per request' : 'off: neither'}`, async (t) => {
      const logs = captureLogs();
      const registry = createRegistry({ service: 'test' });
      const built = await app(t, { logger: true, logStream: logs.stream, metrics: { registry }, instrumentation });
      const response = await built.inject({ url: '/items/3', headers: { 'x-request-id': 'instrumented-1' } });
      assert.equal(response.statusCode, 200);
      const samples = parseMetrics((await built.inject({ url: '/metrics' })).body);
      assert.equal(find(samples, 'http_requests_total', { endpoint: '/items/:id' }).length, instrumentation ? 1 : 0);
      assert.ok(find(samples, 'process_cpu_seconds_total').length > 0, 'the registry is served either way');
      const lines = logs.entries().filter((line) => line.reqId === 'instrumented-1');
      assert.deepEqual(
        lines.map((line) => [line.msg, line.route, line.status, line.service]),
        instrumentation ? [['request completed', '/items/:id', 200, 'test']] : [],
      );
    });
  }

  test('instrumentation follows HTTP_INSTRUMENTATION when the caller does not say', async (t) => {
    const registry = createRegistry({ service: 'test' });
    const built = await app(t, { metrics: { registry } }, { HTTP_INSTRUMENTATION: 'false' });
    await built.inject({ url: '/items/3' });
    const samples = parseMetrics((await built.inject({ url: '/metrics' })).body);
    assert.deepEqual(find(samples, 'http_requests_total'), []);
  });

  test('a line logged inside a request carries its request id; nothing is logged below the level', async (t) => {
    const logs = captureLogs();
    const built = await createHttpApp({
      service: 'test',
      config: { ...LOG, logLevel: 'warn', ...httpConfig() },
      logStream: logs.stream,
    });
    built.get('/warns', async (request) => {
      request.log.info('not written at warn');
      request.log.warn({ detail: 1 }, 'written');
      return {};
    });
    t.after(() => built.close());
    await built.inject({ url: '/warns', headers: { 'x-request-id': 'warned-1' } });
    assert.deepEqual(
      logs.entries().map((line) => [line.msg, line.reqId, line.detail, line.severity]),
      [['written', 'warned-1', 1, 'WARNING']],
    );
  });

  test('docs: the app documents its own routes by default, serves a source when given one, none when off', async (t) => {
    const own = await app(t);
    await own.ready();
    const ownDoc = (await own.inject({ url: '/apidocs/json' })).json() as { paths: Record<string, unknown> };
    assert.ok('/items/{id}' in ownDoc.paths);

    let refreshed = 0;
    const document = { openapi: '3.0.3', info: { title: 't', version: '1' }, paths: { '/elsewhere': {} } };
    const sourced = await app(t, {
      docs: {
        refresh: async () => {
          refreshed += 1;
          document.paths = { '/elsewhere': {}, [`/refreshed-${refreshed}`]: {} } as typeof document.paths;
        },
        current: () => document,
      },
    });
    const first = (await sourced.inject({ url: '/apidocs/json' })).json() as { paths: Record<string, unknown> };
    assert.deepEqual(Object.keys(first.paths), ['/elsewhere', '/refreshed-1']);
    const second = (await sourced.inject({ url: '/apidocs/json' })).json() as { paths: Record<string, unknown> };
    assert.deepEqual(Object.keys(second.paths), ['/elsewhere', '/refreshed-2'], 'refreshed before each documentation request');
    assert.equal((await sourced.inject({ url: '/apidocs' })).statusCode, 200);

    const none = await app(t, { docs: false });
    assert.equal((await none.inject({ url: '/apidocs/json' })).statusCode, 404);
  });

  test('closing does not wait for a client connection on which no request ever started', async (t) => {
    const built = await app(t);
    const base = new URL(await built.listen({ host: '127.0.0.1', port: 0 }));
    const socket = connect(Number(base.port), '127.0.0.1');
    await once(socket, 'connect');
    const closedBySocket = once(socket, 'close');
    const started = Date.now();
    await built.close();
    await closedBySocket;
    assert.ok(Date.now() - started < 2_000, `closed after ${Date.now() - started} ms`);
  });
});
