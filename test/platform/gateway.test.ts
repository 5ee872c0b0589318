import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import type { Env } from '../../src/lib/config/index.ts';
import { freePort } from '../../src/lib/net/index.ts';
import { buildGateway, type GatewayInstance, type GatewayOptions } from '../../src/platform/gateway/app.ts';
import { loadConfig } from '../../src/platform/gateway/config.ts';
import { mergeOpenApi, type OpenApiDocument, PlatformDocs } from '../../src/platform/gateway/openapi.ts';
import { gatewayEndpoint, isPrivatePath, upstreamFor } from '../../src/platform/gateway/routing.ts';
import { eventually, quotesApp, searchApp, usersApp } from '../helpers/apps.ts';
import { captureLogs, find, labelValues, parseMetrics, type Sample, value } from '../helpers/metrics.ts';
import { cleanPrefix, requireRedis, testRedisUrl, uniquePrefix } from '../helpers/redis.ts';

interface Echo {
  upstream: string;
  method: string;
  url: string;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  bodyLength: number;
  bodySha256: string;
}

interface Upstream {
  readonly name: string;
  readonly url: string;
  readonly server: Server;
  /** Every request the upstream received, in order. */
  readonly seen: Echo[];
  /** Requests whose connection closed before the upstream answered. */
  aborted: number;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** The largest BODY_LIMIT_BYTES allows. */
const BIG_BODY_BYTES = 1024 * 1024;

/** A real node:http server answering what it received as JSON; `/slow…` waits 2 s first. */
async function startUpstream(name: string): Promise<Upstream> {
  const upstream: Upstream = { name, url: '', server: createServer(), seen: [], aborted: 0 };
  upstream.server.on('request', (req: IncomingMessage, res) => {
    const hash = createHash('sha256');
    const small: Buffer[] = [];
    let length = 0;
    req.on('data', (chunk: Buffer) => {
      hash.update(chunk);
      length += chunk.length;
      if (length <= 65_536) small.push(chunk);
    });
    req.on('end', () => {
      const echo: Echo = {
        upstream: name,
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: length <= 65_536 ? Buffer.concat(small).toString('utf8') : '',
        bodyLength: length,
        bodySha256: hash.digest('hex'),
      };
      upstream.seen.push(echo);
      if (req.url === '/quotes/unavailable') {
        res.writeHead(503, { 'content-type': 'application/json', 'retry-after': '1' });
        res.end('{"error":"unavailable"}');
        return;
      }
      if (req.url === '/quotes/broken' || req.url === '/quotes/broken-large') {
        // Announces its length, sends a part, then dies: a cut answer (small, or large enough to be streamed).
        const length = req.url === '/quotes/broken' ? 100 : 1024 * 1024;
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(length), 'x-upstream': name });
        res.write(`{"partial":"${'x'.repeat(length / 2)}`);
        setTimeout(() => res.destroy(), 20);
        return;
      }
      const answer = () => {
        const payload = JSON.stringify(echo);
        res.writeHead(req.method === 'POST' ? 201 : 200, {
          'content-type': 'application/json',
          'x-upstream': name,
          'set-cookie': ['a=1', 'b=2'],
          'keep-alive': 'timeout=5',
        });
        res.end(payload);
      };
      if (req.url?.startsWith('/slow') || req.url?.startsWith('/quotes/slow')) {
        const timer = setTimeout(answer, 2_000);
        res.on('close', () => {
          if (!res.writableFinished) {
            upstream.aborted += 1;
            clearTimeout(timer);
          }
        });
      } else {
        answer();
      }
    });
  });
  upstream.server.listen(0, '127.0.0.1');
  await once(upstream.server, 'listening');
  const { port } = upstream.server.address() as AddressInfo;
  return Object.assign(upstream, { url: `http://127.0.0.1:${port}` });
}

const upstreams: Record<'users' | 'quotes' | 'search' | 'ops', Upstream> = {} as never;
const gateways: FastifyInstance[] = [];
let openapi: OpenApiDocument;

/** A listening gateway in front of the echo upstreams; `env` overrides its defaults. */
async function startGateway(env: Env = {}): Promise<string> {
  return (await startGatewayApp(env)).base;
}

/** `startGateway`, with the app itself (its metrics app included) and its base URL. */
async function startGatewayApp(env: Env = {}, options: GatewayOptions = {}): Promise<{ base: string; app: GatewayInstance }> {
  const config = loadConfig({
    USERS_URL: upstreams.users.url,
    QUOTES_URL: upstreams.quotes.url,
    SEARCH_URL: upstreams.search.url,
    OPS_URL: upstreams.ops.url,
    RATE_LIMIT_PER_MINUTE: '0',
    ...env,
  });
  const app = await buildGateway(config, { logger: false, openapi, ...options });
  gateways.push(app);
  return { base: await app.listen({ host: '127.0.0.1', port: 0 }), app };
}

async function echoOf(response: Response): Promise<Echo> {
  assert.match(response.headers.get('content-type') ?? '', /application\/json/);
  return (await response.json()) as Echo;
}

before(
  async () => {
    upstreams.users = await startUpstream('users');
    upstreams.quotes = await startUpstream('quotes');
    upstreams.search = await startUpstream('search');
    upstreams.ops = await startUpstream('ops');
    // The echo upstreams document nothing: these gateways serve a fixed page (the fetched one is tested below).
    openapi = mergeOpenApi([{ openapi: '3.0.3', paths: { '/quotes': { get: { responses: { 200: { description: 'ok' } } } } } }]);
  },
  { timeout: 30_000 },
);

after(async () => {
  await Promise.all(gateways.map((app) => app.close()));
  for (const upstream of Object.values(upstreams)) {
    upstream.server.closeAllConnections();
    upstream.server.close();
  }
});

describe('routing', { timeout: 30_000 }, () => {
  let base: string;
  before(async () => {
    base = await startGateway();
  });

  const cases = [
    ['GET', '/quotes/1', 'quotes'],
    ['GET', '/quotes', 'quotes'],
    ['GET', '/search?keyword=x', 'search'],
    ['POST', '/ops/alerts', 'ops'],
    ['GET', '/ops/incidents', 'ops'],
    ['GET', '/users/login', 'users'],
    ['POST', '/users/login', 'users'],
    ['GET', '/', 'users'],
    ['DELETE', '/users/7', 'users'],
    ['GET', '/anything-else', 'users'],
  ] as const;
  for (const [method, path, expected] of cases) {
    test(`${method} ${path} → ${expected} service, path and query unchanged`, async () => {
      const response = await fetch(`${base}${path}`, { method });
      const echo = await echoOf(response);
      assert.equal(echo.upstream, expected);
      assert.equal(echo.method, method);
      assert.equal(echo.url, path);
      assert.equal(response.headers.get('x-upstream'), expected);
    });
  }

  test('upstream status and headers come back, Set-Cookie kept whole, hop-by-hop dropped', async () => {
    const response = await fetch(`${base}/quotes`, {
      method: 'POST',
      body: '{}',
      headers: { 'content-type': 'application/json' },
    });
    assert.equal(response.status, 201);
    assert.deepEqual(response.headers.getSetCookie(), ['a=1', 'b=2']);
    assert.notEqual(response.headers.get('keep-alive'), 'timeout=5');
    await response.arrayBuffer();
  });

  test('upstreamFor and isPrivatePath follow the original rules', () => {
    assert.equal(upstreamFor('/quotes/random'), 'quotes');
    assert.equal(upstreamFor('/search'), 'search');
    assert.equal(upstreamFor('/users'), 'users');
    assert.equal(upstreamFor('/'), 'users');
    for (const path of ['/metrics', '/metrics/', '/quotes/metrics', '/users/metrics', '//metrics', '/%6Detrics', '/METRICS']) {
      assert.equal(isPrivatePath(path), true, path);
    }
    for (const path of ['/quotes/1', '/metricsx', '/a/b/metrics', '/quotes/metrics-board']) {
      assert.equal(isPrivatePath(path), false, path);
    }
  });
});

describe('request relaying', { timeout: 30_000 }, () => {
  let base: string;
  before(async () => {
    base = await startGateway();
  });

  test('a POST JSON body reaches the upstream byte for byte', async () => {
    const body = JSON.stringify({ user_id: 1, quote: 'Mille millions de mille sabords !' });
    const response = await fetch(`${base}/quotes`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
    });
    const echo = await echoOf(response);
    assert.equal(echo.body, body);
    assert.equal(echo.headers['content-type'], 'application/json');
    assert.equal(echo.headers['content-length'], String(Buffer.byteLength(body)));
  });

  test('a body of exactly BODY_LIMIT_BYTES (1 MiB) reaches the upstream byte for byte', async () => {
    const base = await startGateway({ BODY_LIMIT_BYTES: String(BIG_BODY_BYTES) });
    const body = Buffer.alloc(BIG_BODY_BYTES, 'x');
    const response = await fetch(`${base}/quotes`, { method: 'PUT', headers: { 'content-type': 'text/plain' }, body });
    const echo = await echoOf(response);
    assert.equal(echo.bodyLength, BIG_BODY_BYTES);
    assert.equal(echo.bodySha256, createHash('sha256').update(body).digest('hex'));
  });

  test('a chunked upload without Content-Length arrives whole, with its Content-Length', async () => {
    const { status, text } = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = httpRequest(`${base}/users`, { method: 'POST', headers: { 'content-type': 'application/json' } }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          text += chunk;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      });
      req.on('error', reject);
      req.write('{"name":');
      setTimeout(() => req.end('"Alice"}'), 50);
    });
    assert.equal(status, 201);
    const echo = JSON.parse(text) as Echo;
    assert.equal(echo.body, '{"name":"Alice"}');
    // Read whole by the gateway (within its limit), the body goes on with its length.
    assert.equal(echo.headers['content-length'], '16');
    assert.equal(echo.headers['transfer-encoding'], undefined);
  });

  test('x-request-id: a sane client id is kept, forwarded and returned', async () => {
    const response = await fetch(`${base}/quotes/1`, { headers: { 'x-request-id': 'client-id.42:a_b' } });
    const echo = await echoOf(response);
    assert.equal(echo.headers['x-request-id'], 'client-id.42:a_b');
    assert.equal(response.headers.get('x-request-id'), 'client-id.42:a_b');
  });

  test('x-request-id: an absent or unsafe id is replaced by a generated UUID, the same on both sides', async () => {
    for (const headers of [{}, { 'x-request-id': 'not safe <script>' }, { 'x-request-id': 'a'.repeat(129) }] as Record<
      string,
      string
    >[]) {
      const response = await fetch(`${base}/quotes/1`, { headers });
      const echo = await echoOf(response);
      const returned = response.headers.get('x-request-id') ?? '';
      assert.match(returned, UUID);
      assert.equal(echo.headers['x-request-id'], returned);
    }
  });

  test('x-forwarded-for/-proto/-host are set, and a client-sent X-Forwarded-For is not believed', async () => {
    const response = await fetch(`${base}/search?keyword=x`, { headers: { 'x-forwarded-for': '6.6.6.6' } });
    const echo = await echoOf(response);
    assert.match(String(echo.headers['x-forwarded-for']), /^(::ffff:)?127\.0\.0\.1$/);
    assert.equal(echo.headers['x-forwarded-proto'], 'http');
    assert.equal(echo.headers['x-forwarded-host'], new URL(base).host);
    assert.equal(echo.headers.host, new URL(base).host);
  });

  test('with TRUST_PROXY the forwarding chain is extended', async () => {
    const trusting = await startGateway({ TRUST_PROXY: 'true' });
    const response = await fetch(`${trusting}/search`, {
      headers: { 'x-forwarded-for': '203.0.113.9', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'haddock.example' },
    });
    const echo = await echoOf(response);
    assert.match(String(echo.headers['x-forwarded-for']), /^203\.0\.113\.9, (::ffff:)?127\.0\.0\.1$/);
    assert.equal(echo.headers['x-forwarded-proto'], 'https');
    assert.equal(echo.headers['x-forwarded-host'], 'haddock.example');
  });

  test('headers named by Connection and other hop-by-hop headers are not forwarded', async () => {
    const text = await new Promise<string>((resolve, reject) => {
      const req = httpRequest(
        `${base}/quotes/1`,
        { headers: { connection: 'keep-alive, x-hop', 'x-hop': 'secret', te: 'trailers', 'proxy-authorization': 'Basic x' } },
        (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            body += chunk;
          });
          res.on('end', () => resolve(body));
        },
      );
      req.on('error', reject);
      req.end();
    });
    const echo = JSON.parse(text) as Echo;
    assert.equal(echo.headers['x-hop'], undefined);
    assert.equal(echo.headers.te, undefined);
    assert.equal(echo.headers['proxy-authorization'], undefined);
  });

  test('an absolute-form request target is relayed in origin form, query included', async () => {
    const { port } = new URL(base);
    const text = await new Promise<string>((resolve, reject) => {
      const socket = connect(Number(port), '127.0.0.1', () => {
        socket.write(`GET http://haddock.example/quotes/7?x=1 HTTP/1.1\r\nHost: haddock.example\r\nConnection: close\r\n\r\n`);
      });
      let received = '';
      socket.setEncoding('utf8');
      socket.on('data', (chunk: string) => {
        received += chunk;
      });
      socket.on('end', () => resolve(received));
      socket.on('error', reject);
    });
    assert.match(text, /^HTTP\/1\.1 200 /);
    // The answer is chunked: the echo is the one JSON object in it.
    const echo = JSON.parse(/\{.*\}/s.exec(text)?.[0] ?? '{}') as Echo;
    assert.equal(echo.upstream, 'quotes');
    assert.equal(echo.url, '/quotes/7?x=1');
  });

  test('an upstream 503 is relayed as it is, not retried', async () => {
    const before = upstreams.quotes.seen.filter((e) => e.url === '/quotes/unavailable').length;
    const response = await fetch(`${base}/quotes/unavailable`);
    assert.equal(response.status, 503);
    assert.equal(response.headers.get('retry-after'), '1');
    assert.deepEqual(await response.json(), { error: 'unavailable' });
    assert.equal(upstreams.quotes.seen.filter((e) => e.url === '/quotes/unavailable').length, before + 1);
  });

  for (const path of ['/metrics', '/quotes/metrics', '/users/metrics', '/search/metrics', '/metrics/', '/%6Detrics?x=1']) {
    test(`GET ${path} → 404 JSON, never proxied`, async () => {
      const before = Object.values(upstreams).reduce((n, u) => n + u.seen.length, 0);
      const response = await fetch(`${base}${path}`);
      assert.equal(response.status, 404);
      assert.deepEqual(await response.json(), { error: 'Route non trouvée' });
      assert.equal(
        Object.values(upstreams).reduce((n, u) => n + u.seen.length, 0),
        before,
      );
    });
  }

  test('a client that gives up mid-request does not crash the gateway, and the upstream request is cancelled', async () => {
    const abortedBefore = upstreams.quotes.aborted;
    await assert.rejects(fetch(`${base}/quotes/slow`, { signal: AbortSignal.timeout(150) }));
    const deadline = Date.now() + 2_000;
    while (upstreams.quotes.aborted === abortedBefore && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.equal(upstreams.quotes.aborted, abortedBefore + 1);
    const response = await fetch(`${base}/quotes/1`);
    assert.equal(response.status, 200);
    await response.arrayBuffer();
  });
});

describe('upstream failures', { timeout: 30_000 }, () => {
  test('upstream down → 502 {"error":"Service amont injoignable"} within 2 s', async () => {
    const base = await startGateway({ QUOTES_URL: `http://127.0.0.1:${await freePort()}` });
    const started = Date.now();
    const response = await fetch(`${base}/quotes/1`);
    assert.ok(Date.now() - started < 2_000, `answered after ${Date.now() - started} ms`);
    assert.equal(response.status, 502);
    assert.deepEqual(await response.json(), { error: 'Service amont injoignable' });
    assert.match(response.headers.get('x-request-id') ?? '', UUID);
  });

  test('upstream down with a request body → 502, and the connection is not left stuck', async () => {
    const base = await startGateway({ QUOTES_URL: `http://127.0.0.1:${await freePort()}` });
    const response = await fetch(`${base}/quotes`, { method: 'POST', body: Buffer.alloc(16_000, 'y') });
    assert.equal(response.status, 502);
    assert.deepEqual(await response.json(), { error: 'Service amont injoignable' });
  });

  test('slow upstream (UPSTREAM_TIMEOUT_MS=300) → 504 {"error":"Service amont trop lent"}', async () => {
    const base = await startGateway({ UPSTREAM_TIMEOUT_MS: '300' });
    const started = Date.now();
    const response = await fetch(`${base}/slow`);
    const elapsed = Date.now() - started;
    assert.equal(response.status, 504);
    assert.deepEqual(await response.json(), { error: 'Service amont trop lent' });
    assert.ok(elapsed >= 250 && elapsed < 1_500, `answered after ${elapsed} ms`);
  });
});

describe('rate limit', { timeout: 30_000 }, () => {
  test('RATE_LIMIT_PER_MINUTE=3: the 4th request → 429 with Retry-After and X-RateLimit-* headers', async () => {
    const base = await startGateway({ RATE_LIMIT_PER_MINUTE: '3' });
    for (let i = 1; i <= 3; i++) {
      const response = await fetch(`${base}/quotes/${i}`);
      assert.equal(response.status, 200);
      assert.equal(response.headers.get('x-ratelimit-limit'), '3');
      assert.equal(response.headers.get('x-ratelimit-remaining'), String(3 - i));
      await response.arrayBuffer();
    }
    const seenBefore = upstreams.quotes.seen.length;
    const limited = await fetch(`${base}/quotes/4`);
    assert.equal(limited.status, 429);
    assert.equal(await limited.text(), '{"error":"Trop de requêtes, réessayez plus tard"}');
    const retryAfter = Number(limited.headers.get('retry-after'));
    assert.ok(retryAfter > 0 && retryAfter <= 60, `Retry-After ${limited.headers.get('retry-after')}`);
    assert.equal(limited.headers.get('x-ratelimit-limit'), '3');
    assert.equal(limited.headers.get('x-ratelimit-remaining'), '0');
    assert.equal(upstreams.quotes.seen.length, seenBefore, 'a limited request must not reach the service');

    const docs = await fetch(`${base}/apidocs/json`);
    assert.equal(docs.status, 200, '/apidocs is exempt');
    await docs.arrayBuffer();
  });

  test('RATE_LIMIT_PER_MINUTE=0: no limit after 30 requests', async () => {
    const base = await startGateway({ RATE_LIMIT_PER_MINUTE: '0' });
    for (let i = 0; i < 30; i++) {
      const response = await fetch(`${base}/search?keyword=${i}`);
      assert.equal(response.status, 200, `request ${i + 1}`);
      assert.equal(response.headers.get('x-ratelimit-limit'), null);
      await response.arrayBuffer();
    }
  });

  test('the window is per client address, and a client is let through again once its window has passed', async () => {
    // TRUST_PROXY: each X-Forwarded-For is a client address of its own; a 1 s window instead of the minute.
    const { base } = await startGatewayApp({ RATE_LIMIT_PER_MINUTE: '2', TRUST_PROXY: 'true' }, { rateLimitWindowMs: 1_000 });
    const from = async (address: string) => {
      const response = await fetch(`${base}/quotes/1`, { headers: { 'x-forwarded-for': address } });
      await response.arrayBuffer();
      return response.status;
    };
    assert.deepEqual([await from('203.0.113.1'), await from('203.0.113.1'), await from('203.0.113.1')], [200, 200, 429]);
    assert.equal(await from('203.0.113.2'), 200, 'another address has its own window');
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    assert.equal(await from('203.0.113.1'), 200, 'a new window opens');
  });
});

describe('API documentation, fetched from the services', { timeout: 60_000 }, () => {
  const prefix = uniquePrefix('gateway-docs');
  const services: FastifyInstance[] = [];
  let base: string;

  before(async () => {
    await requireRedis();
    // The real services, listening: the gateway reads each one's own /apidocs/json over HTTP.
    const urls: string[] = [];
    for (const build of [usersApp, quotesApp, searchApp]) {
      const app = await build({ prefix });
      services.push(app);
      urls.push(await app.listen({ host: '127.0.0.1', port: 0 }));
    }
    // No operations service: its part of the page is missing, the rest is served.
    const opsPort = await freePort();
    ({ base } = await startGatewayApp(
      { USERS_URL: urls[0], QUOTES_URL: urls[1], SEARCH_URL: urls[2], OPS_URL: `http://127.0.0.1:${opsPort}` },
      { openapi: undefined },
    ));
  });
  after(async () => {
    await Promise.all(services.map((app) => app.close()));
    await cleanPrefix(testRedisUrl(), prefix);
  });

  test('GET /apidocs/json is one OpenAPI 3 document with the paths the running services document', async () => {
    const response = await fetch(`${base}/apidocs/json`);
    assert.equal(response.status, 200);
    const doc = (await response.json()) as OpenApiDocument;
    assert.match(doc.openapi, /^3\./);
    assert.equal(typeof doc.info.title, 'string');
    for (const path of [
      '/quotes',
      '/quotes/{id}',
      '/quotes/random',
      '/users/login',
      '/users',
      '/',
      '/search',
      '/search/health',
    ]) {
      assert.ok(path in doc.paths, `missing ${path}`);
    }
    assert.ok(doc.paths['/users/login']?.post, 'POST /users/login documented');
    assert.ok(doc.paths['/quotes']?.get && doc.paths['/quotes']?.post, 'GET and POST /quotes documented');
    assert.ok(doc.components.securitySchemes.token, 'security scheme kept');
    for (const path of Object.keys(doc.paths)) {
      assert.doesNotMatch(path, /^\/apidocs|metrics$/, `${path} must not be documented`);
      assert.doesNotMatch(path, /^\/ops/, `${path}: the operations service is down, it cannot be on the page`);
    }
  });

  test('GET /apidocs answers the Swagger UI page (HTML)', async () => {
    const response = await fetch(`${base}/apidocs`);
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /text\/html/);
    assert.match(await response.text(), /swagger/i);
  });
});

describe('PlatformDocs', { timeout: 30_000 }, () => {
  const silent = { warn: () => {}, error: () => {} };
  const document = (path: string) => ({
    openapi: '3.0.3',
    paths: { [path]: { get: { responses: { 200: { description: 'ok' } } } } },
  });

  /** A service's documentation endpoint whose answer the test sets, counting the requests it gets. */
  async function docsServer(answer: { status: number; body: unknown }) {
    const state = { answer, requests: 0 };
    const server = createServer((req, res) => {
      state.requests += 1;
      assert.equal(req.url, '/apidocs/json');
      res.writeHead(state.answer.status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(state.answer.body));
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return Object.assign(state, { url, close: () => server.close() });
  }

  test('a service that failed is asked again after the back-off; the page shows the others meanwhile', async () => {
    const a = await docsServer({ status: 200, body: document('/a') });
    const b = await docsServer({ status: 503, body: { error: 'down' } });
    let now = 1_000;
    const docs = new PlatformDocs(
      [
        { name: 'a', url: a.url },
        { name: 'b', url: b.url },
      ],
      { timeoutMs: 2_000, retryMs: 5_000, now: () => now },
    );
    try {
      assert.deepEqual(Object.keys(docs.current().paths), [], 'nothing before the first request');
      await docs.refresh(silent);
      assert.deepEqual(docs.services, ['a']);
      assert.deepEqual(Object.keys(docs.current().paths), ['/a']);

      b.answer = { status: 200, body: document('/b') };
      now += 4_000;
      await docs.refresh(silent);
      assert.deepEqual([a.requests, b.requests], [1, 1], 'within the back-off nobody is asked again');
      assert.deepEqual(docs.services, ['a']);

      now += 1_000;
      await docs.refresh(silent);
      assert.deepEqual([a.requests, b.requests], [1, 2], 'only the one that failed is asked again');
      assert.deepEqual(Object.keys(docs.current().paths), ['/a', '/b']);
    } finally {
      a.close();
      b.close();
    }
  });

  test('a document older than maxAgeMs is fetched again in the background; a failed refresh keeps the old one', async () => {
    const a = await docsServer({ status: 200, body: document('/old') });
    let now = 0;
    const docs = new PlatformDocs([{ name: 'a', url: a.url }], { timeoutMs: 2_000, maxAgeMs: 60_000, now: () => now });
    try {
      await docs.refresh(silent);
      a.answer = { status: 200, body: document('/new') };
      now = 30_000;
      await docs.refresh(silent);
      assert.equal(a.requests, 1, 'still fresh');
      now = 60_000;
      await docs.refresh(silent);
      assert.deepEqual(Object.keys(docs.current().paths), ['/old'], 'the old page is served while the new one is fetched');
      await eventually(async () => '/new' in docs.current().paths, 2_000, 'the refreshed document replaces the old one');

      a.answer = { status: 500, body: {} };
      now = 120_000;
      await docs.refresh(silent);
      await eventually(async () => a.requests === 3, 2_000, 'the third fetch');
      assert.deepEqual(Object.keys(docs.current().paths), ['/new'], 'a failed refresh keeps the last document');
    } finally {
      a.close();
    }
  });

  test('every service down or answering something else: an empty page, never an error', async () => {
    const junk = await docsServer({ status: 200, body: { hello: 'world' } });
    const docs = new PlatformDocs(
      [
        { name: 'down', url: `http://127.0.0.1:${await freePort()}` },
        { name: 'junk', url: junk.url },
      ],
      { timeoutMs: 2_000 },
    );
    try {
      await docs.refresh(silent);
      assert.deepEqual(docs.services, []);
      assert.match(docs.current().openapi, /^3\./);
      assert.deepEqual(docs.current().paths, {});
    } finally {
      junk.close();
    }
  });
});

describe('mergeOpenApi', { timeout: 30_000 }, () => {
  const op = (summary: string) => ({ summary, responses: { 200: { description: 'ok' } } });

  test('unites paths in order and drops /apidocs and /metrics routes', () => {
    const merged = mergeOpenApi([
      {
        openapi: '3.0.3',
        paths: { '/users': { get: op('u') }, '/apidocs/json': { get: op('d') }, '/metrics': { get: op('m') } },
      },
      { openapi: '3.0.3', paths: { '/quotes': { get: op('q') }, '/apidocs': { get: op('d') } } },
    ]);
    assert.deepEqual(Object.keys(merged.paths), ['/users', '/quotes']);
    assert.equal(merged.openapi, '3.0.3');
    assert.ok('token' in merged.components.securitySchemes);
  });

  test('merges methods of one path from two documents, and refuses the same method twice', () => {
    const merged = mergeOpenApi([{ paths: { '/x': { get: op('a') } } }, { paths: { '/x': { post: op('b') } } }]);
    assert.deepEqual(Object.keys(merged.paths['/x'] ?? {}), ['get', 'post']);
    assert.throws(() => mergeOpenApi([{ paths: { '/x': { get: op('a') } } }, { paths: { '/x': { get: op('b') } } }]), /GET \/x/);
  });

  test('keeps identical schemas once and renames a different one with the same name, refs included', () => {
    const quote = { type: 'object', properties: { id: { type: 'integer' } } };
    const other = { type: 'string' };
    const ref = { $ref: '#/components/schemas/def-0' };
    const merged = mergeOpenApi([
      {
        components: { schemas: { 'def-0': quote, shared: other } },
        paths: { '/a': { get: { responses: { 200: { content: { 'application/json': { schema: ref } } } } } } },
      },
      {
        components: { schemas: { 'def-0': other, shared: other } },
        paths: { '/b': { get: { responses: { 200: { content: { 'application/json': { schema: ref } } } } } } },
      },
    ]);
    assert.deepEqual(Object.keys(merged.components.schemas).sort(), ['def-0', 'def-0_2', 'shared']);
    assert.deepEqual(merged.components.schemas['def-0_2'], other);
    assert.match(JSON.stringify(merged.paths['/a']), /"#\/components\/schemas\/def-0"/);
    assert.match(JSON.stringify(merged.paths['/b']), /"#\/components\/schemas\/def-0_2"/);
  });
});

describe('metrics and logs', { timeout: 30_000 }, () => {
  /** A gateway with its metrics app listening on a loopback port of its own. */
  async function withMetrics(env: Env = {}, options: GatewayOptions = {}) {
    const { base, app } = await startGatewayApp(env, options);
    const metricsBase = await app.metricsApp.listen({ host: '127.0.0.1', port: 0 });
    const scrape = async (): Promise<Sample[]> => {
      const response = await fetch(`${metricsBase}/metrics`);
      assert.equal(response.status, 200);
      assert.match(response.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
      return parseMetrics(await response.text());
    };
    return { base, app, metricsBase, scrape };
  }

  test('loadConfig: the metrics listener defaults to 127.0.0.1:8010, follows GATEWAY_METRICS_*, never shares the public port', () => {
    const defaults = loadConfig({});
    assert.equal(defaults.metricsHost, '127.0.0.1');
    assert.equal(defaults.metricsPort, 8010);
    const set = loadConfig({ GATEWAY_METRICS_HOST: '10.0.0.5', GATEWAY_METRICS_PORT: '9100' });
    assert.deepEqual([set.metricsHost, set.metricsPort], ['10.0.0.5', 9100]);
    assert.throws(() => loadConfig({ GATEWAY_PORT: '8000', GATEWAY_METRICS_PORT: '8000' }), /GATEWAY_METRICS_PORT must differ/);
    assert.throws(() => loadConfig({ GATEWAY_METRICS_PORT: 'x' }), /GATEWAY_METRICS_PORT must be an integer/);
  });

  test('gatewayEndpoint maps every path into a small fixed set', () => {
    const cases: Array<[string, string]> = [
      ['/', '/'],
      ['/quotes', '/quotes*'],
      ['/quotes/12345', '/quotes*'],
      ['/search', '/search*'],
      ['/users/login', '/users*'],
      ['/users', '/users*'],
      ['/apidocs', '/apidocs*'],
      ['/apidocs/json', '/apidocs*'],
      ['/gateway/health', '/gateway/health'],
      ['/gateway/health/x', 'unmatched'],
      ['/metrics', 'unmatched'],
      ['/quotes/metrics', 'unmatched'],
      ['/wp-admin/x.php', 'unmatched'],
    ];
    for (const [path, endpoint] of cases) assert.equal(gatewayEndpoint(path), endpoint, path);
  });

  test('/metrics is served on the separate port only: the public port still answers 404', async () => {
    const { base, metricsBase, scrape } = await withMetrics();
    const publicMetrics = await fetch(`${base}/metrics`);
    assert.equal(publicMetrics.status, 404);
    await publicMetrics.arrayBuffer();
    const samples = await scrape();
    for (const sample of samples) assert.equal(sample.labels.service, 'gateway', sample.name);
    const other = await fetch(`${metricsBase}/quotes/1`);
    assert.equal(other.status, 404, 'the metrics port proxies nothing');
    await other.arrayBuffer();
  });

  test('the HTTP series use route families: /quotes/12345 and /quotes/999999 are both /quotes*', async () => {
    const { base, scrape } = await withMetrics();
    for (const path of [
      '/quotes/12345',
      '/quotes/999999',
      '/search?keyword=x',
      '/users/login',
      '/',
      '/no-such-thing',
      '/apidocs/json',
    ]) {
      const response = await fetch(`${base}${path}`);
      await response.arrayBuffer();
    }
    const samples = await scrape();
    assert.deepEqual(labelValues(samples, 'http_requests_total', 'endpoint'), [
      '/',
      '/apidocs*',
      '/quotes*',
      '/search*',
      '/users*',
      'unmatched',
    ]);
    assert.equal(value(samples, 'http_requests_total', { method: 'GET', endpoint: '/quotes*', http_status: '200' }), 2);
    assert.equal(value(samples, 'http_request_latency_seconds_count', { method: 'GET', endpoint: '/quotes*' }), 2);
    for (const sample of find(samples, 'http_requests_in_progress')) assert.equal(sample.value, 0, sample.labels.endpoint);
    assert.deepEqual(find(samples, 'http_requests_total', { endpoint: '/metrics' }), []);
  });

  test('gateway_upstream_errors_total: every upstream and kind from 0; a down upstream counts unavailable, a slow one timeout', async () => {
    const downPort = await freePort();
    const { base, scrape } = await withMetrics({ QUOTES_URL: `http://127.0.0.1:${downPort}`, UPSTREAM_TIMEOUT_MS: '200' });
    const initial = await scrape();
    assert.equal(find(initial, 'gateway_upstream_errors_total').length, 12, 'four upstreams × three kinds');
    for (const sample of find(initial, 'gateway_upstream_errors_total')) assert.equal(sample.value, 0);

    for (const path of ['/quotes/1', '/quotes/2', '/slow']) {
      const response = await fetch(`${base}${path}`);
      await response.arrayBuffer();
    }
    const samples = await scrape();
    assert.equal(value(samples, 'gateway_upstream_errors_total', { upstream: 'quotes', kind: 'unavailable' }), 2);
    assert.equal(value(samples, 'gateway_upstream_errors_total', { upstream: 'users', kind: 'timeout' }), 1);
    assert.equal(value(samples, 'gateway_upstream_errors_total', { upstream: 'search', kind: 'unavailable' }), 0);
    assert.equal(value(samples, 'http_requests_total', { endpoint: '/quotes*', http_status: '502' }), 2);
    assert.equal(value(samples, 'http_requests_total', { endpoint: 'unmatched', http_status: '504' }), 1);
  });

  test('a small answer the upstream cuts mid-body → 502 JSON without its headers, counted as a reset', async () => {
    const { base, scrape } = await withMetrics();
    const response = await fetch(`${base}/quotes/broken`);
    assert.equal(response.status, 502);
    assert.deepEqual(await response.json(), { error: 'Service amont injoignable' });
    assert.equal(response.headers.get('x-upstream'), null, "the broken answer's headers are not relayed");
    assert.match(response.headers.get('x-request-id') ?? '', UUID);
    const samples = await scrape();
    assert.equal(value(samples, 'gateway_upstream_errors_total', { upstream: 'quotes', kind: 'reset' }), 1);
    assert.equal(value(samples, 'gateway_upstream_errors_total', { upstream: 'quotes', kind: 'unavailable' }), 0);
    assert.equal(value(samples, 'http_requests_total', { endpoint: '/quotes*', http_status: '502' }), 1);
  });

  test('a large answer is streamed: cut mid-body, the client gets a cut stream, counted as a reset', async () => {
    const { base, scrape } = await withMetrics();
    const response = await fetch(`${base}/quotes/broken-large`);
    assert.equal(response.status, 200);
    await assert.rejects(response.arrayBuffer());
    let samples: Sample[] = [];
    const deadline = Date.now() + 3_000;
    do {
      samples = await scrape();
      if (value(samples, 'gateway_upstream_errors_total', { upstream: 'quotes', kind: 'reset' }) > 0) break;
      await new Promise((r) => setTimeout(r, 50));
    } while (Date.now() < deadline);
    assert.equal(value(samples, 'gateway_upstream_errors_total', { upstream: 'quotes', kind: 'reset' }), 1);
  });

  test('a client that leaves mid-request is recorded as 499, not counted as an upstream error, and the gauge comes back to 0', async () => {
    const { base, scrape } = await withMetrics();
    await assert.rejects(fetch(`${base}/quotes/slow`, { signal: AbortSignal.timeout(150) }));
    let samples: Sample[] = [];
    const deadline = Date.now() + 3_000;
    do {
      samples = await scrape();
      if (find(samples, 'http_requests_total', { http_status: '499' }).length > 0) break;
      await new Promise((r) => setTimeout(r, 50));
    } while (Date.now() < deadline);
    assert.equal(value(samples, 'http_requests_total', { endpoint: '/quotes*', http_status: '499' }), 1);
    assert.equal(value(samples, 'http_requests_in_progress', { endpoint: '/quotes*' }), 0);
    for (const sample of find(samples, 'gateway_upstream_errors_total')) assert.equal(sample.value, 0);
  });

  test('gateway_rate_limited_total counts the 429 answers', async () => {
    const { base, scrape } = await withMetrics({ RATE_LIMIT_PER_MINUTE: '2' });
    for (let i = 0; i < 5; i++) {
      const response = await fetch(`${base}/quotes/${i}`);
      await response.arrayBuffer();
    }
    const samples = await scrape();
    assert.equal(value(samples, 'gateway_rate_limited_total'), 3);
    assert.equal(value(samples, 'http_requests_total', { endpoint: '/quotes*', http_status: '429' }), 3);
  });

  test('one completion line per request, with the client request id, the route family and the path without its query', async () => {
    const logs = captureLogs();
    const { base } = await startGatewayApp({}, { logger: true, logStream: logs.stream });
    const response = await fetch(`${base}/quotes/42?token=secret-in-query`, {
      headers: { 'x-request-id': 'gw-trace-1', authorization: 'Bearer secret-header' },
    });
    await response.arrayBuffer();
    assert.equal(response.headers.get('x-request-id'), 'gw-trace-1');
    const lines = logs.entries().filter((l) => l.reqId === 'gw-trace-1');
    assert.equal(lines.length, 1, JSON.stringify(lines));
    const line = lines[0] as Record<string, unknown>;
    assert.deepEqual(
      [line.msg, line.method, line.route, line.url, line.status, line.level, line.severity, line.service],
      ['request completed', 'GET', '/quotes*', '/quotes/42', 200, 'info', 'INFO', 'gateway'],
    );
    assert.equal(typeof line.duration_ms, 'number');
    const text = logs.lines.join('\n');
    assert.ok(!text.includes('secret-in-query') && !text.includes('secret-header'), text);
  });

  test('a client that leaves before the answer is no warning: its line says 499, nothing failed upstream', async () => {
    const logs = captureLogs();
    const { base } = await startGatewayApp({}, { logger: true, logStream: logs.stream });
    await assert.rejects(
      fetch(`${base}/quotes/slow`, { headers: { 'x-request-id': 'gw-gone-1' }, signal: AbortSignal.timeout(150) }),
    );
    let lines: Record<string, unknown>[] = [];
    const deadline = Date.now() + 3_000;
    do {
      lines = logs.entries().filter((l) => l.reqId === 'gw-gone-1');
      if (lines.some((l) => l.msg === 'request completed')) break;
      await new Promise((r) => setTimeout(r, 50));
    } while (Date.now() < deadline);
    assert.deepEqual(
      lines.map((l) => [l.msg, l.level, l.status]),
      [['request completed', 'info', 499]],
      JSON.stringify(lines),
    );
  });

  test('closing the gateway closes its metrics listener', async () => {
    const { app, metricsBase } = await withMetrics();
    await app.close();
    await assert.rejects(fetch(`${metricsBase}/metrics`));
  });
});
