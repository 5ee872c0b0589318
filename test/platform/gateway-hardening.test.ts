import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:http';
import { type AddressInfo, connect, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import type { Env } from '../../src/lib/config/index.ts';
import { ERRORS, type ErrorCode } from '../../src/lib/errors/index.ts';
import { checkGateway, checkServices } from '../../src/ops/check/index.ts';
import { checkHealth, gatewayHealthUrl } from '../../src/ops/health/index.ts';
import { buildGateway, type GatewayInstance } from '../../src/platform/gateway/app.ts';
import { loadConfig } from '../../src/platform/gateway/config.ts';
import { quotesApp, searchApp, usersApp } from '../helpers/apps.ts';
import { find, parseMetrics } from '../helpers/metrics.ts';
import { cleanPrefix, requireRedis, testRedisUrl, uniquePrefix } from '../helpers/redis.ts';

/** What a raw exchange gave: the status line's code, headers, body, and how the connection ended. */
interface RawAnswer {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: string;
  readonly raw: string;
}

const prefix = uniquePrefix('gateway-hardening');
const services: FastifyInstance[] = [];
const gateways: GatewayInstance[] = [];
const urls = { users: '', quotes: '', search: '' };

/**
 * A bare node:http upstream standing in for ops: counts the requests it receives and answers each at once,
 * before reading its body, then resets the connection (an upstream refusing a body it will not read).
 */
const early = { server: createServer(), url: '', seen: 0 };

async function startGateway(env: Env = {}): Promise<{ app: GatewayInstance; port: number; base: string }> {
  const app = await buildGateway(
    loadConfig({
      USERS_URL: urls.users,
      QUOTES_URL: urls.quotes,
      SEARCH_URL: urls.search,
      OPS_URL: early.url,
      RATE_LIMIT_PER_MINUTE: '0',
      ...env,
    }),
    { logger: false, openapi: { openapi: '3.0.3', info: { title: 't', version: '1' }, paths: {} } },
  );
  gateways.push(app);
  const base = await app.listen({ host: '127.0.0.1', port: 0 });
  return { app, port: (app.server.address() as AddressInfo).port, base };
}

/**
 * Sends `head` on a fresh connection, then lets `body` write what follows, and reads until the gateway
 * closes the connection (or `ms` passes): the first answer is parsed; a write the gateway refused by
 * closing (EPIPE, ECONNRESET) is not an error, the answer read before it is what counts.
 */
function exchange(port: number, head: string, body?: (socket: Socket) => void, ms = 5_000): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => socket.destroy(), ms);
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      const raw = Buffer.concat(chunks).toString('utf8');
      const end = raw.indexOf('\r\n\r\n');
      const match = /^HTTP\/1\.1 (\d{3}) /.exec(raw);
      if (match === null || end === -1) {
        reject(new Error(`no HTTP answer to ${JSON.stringify(head.split('\r\n')[0])}: ${JSON.stringify(raw.slice(0, 200))}`));
        return;
      }
      const headers: Record<string, string> = {};
      for (const line of raw.slice(0, end).split('\r\n').slice(1)) {
        const colon = line.indexOf(':');
        headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
      }
      const length = Number(headers['content-length'] ?? Number.NaN);
      const rest = raw.slice(end + 4);
      resolve({ status: Number(match[1]), headers, body: Number.isNaN(length) ? rest : rest.slice(0, length), raw });
    });
    socket.on('connect', () => {
      socket.write(head);
      body?.(socket);
    });
  });
}

/** The answer is exactly the catalogue's `{"error": message}` for `code`, with its status, as JSON. */
function assertCatalogue(answer: RawAnswer, code: ErrorCode, what: string): void {
  assert.equal(answer.status, ERRORS[code].status, `${what}: status (${answer.raw.slice(0, 300)})`);
  assert.match(answer.headers['content-type'] ?? '', /^application\/json/, `${what}: content type`);
  assert.deepEqual(JSON.parse(answer.body), { error: ERRORS[code].message }, `${what}: body`);
}

/** The answer is a JSON error body with only an `error` string (an upstream's own error, relayed). */
function assertErrorShape(answer: RawAnswer, status: number, what: string): void {
  assert.equal(answer.status, status, `${what}: status (${answer.raw.slice(0, 300)})`);
  const body = JSON.parse(answer.body) as Record<string, unknown>;
  assert.deepEqual(Object.keys(body), ['error'], `${what}: body keys`);
  assert.equal(typeof body.error, 'string');
}

/** The gateway's upstream errors (every kind) and 5xx answers, from its own registry. */
async function clientFaultCounters(app: GatewayInstance): Promise<{ upstreamErrors: number; serverErrors: number }> {
  const scrape = await app.metricsApp.inject({ url: '/metrics' });
  const samples = parseMetrics(scrape.body);
  const sum = (list: { value: number }[]) => list.reduce((total, s) => total + s.value, 0);
  return {
    upstreamErrors: sum(find(samples, 'gateway_upstream_errors_total')),
    serverErrors: sum(find(samples, 'http_requests_total').filter((s) => (s.labels.http_status ?? '').startsWith('5'))),
  };
}

const post = (path: string, headers: string) =>
  `POST ${path} HTTP/1.1\r\nHost: gateway.test\r\nContent-Type: application/json\r\n${headers}\r\n`;

before(async () => {
  await requireRedis();
  for (const [name, build] of [
    ['users', usersApp],
    ['quotes', quotesApp],
    ['search', searchApp],
  ] as const) {
    const app = await build({ prefix });
    services.push(app);
    urls[name] = await app.listen({ host: '127.0.0.1', port: 0 });
  }
  early.server.on('request', (req, res) => {
    early.seen += 1;
    const answer = '{"error":"refused early"}';
    res.writeHead(401, { 'content-type': 'application/json', 'content-length': answer.length, connection: 'close' });
    res.end(answer);
    // Closed with the body unread: the upstream's kernel answers what is still coming with a reset.
    req.socket.destroy();
  });
  early.server.listen(0, '127.0.0.1');
  await once(early.server, 'listening');
  early.url = `http://127.0.0.1:${(early.server.address() as AddressInfo).port}`;
});

after(async () => {
  await Promise.all(gateways.map((app) => app.close()));
  await Promise.all(services.map((app) => app.close()));
  await new Promise((resolve) => early.server.close(resolve));
  await cleanPrefix(testRedisUrl(), prefix);
});

describe('gateway: request bodies beyond BODY_LIMIT_BYTES (issue 8, defect 4)', { timeout: 30_000 }, () => {
  test('1 MB and 20 MB bodies to a real service → 413 every time, never 502, no upstream error and no 5xx counted', async () => {
    const { app, port } = await startGateway();
    for (const [size, tries] of [
      [1_000_000, 6],
      [20_000_000, 3],
    ] as const) {
      const body = Buffer.alloc(size, 'x');
      for (let i = 0; i < tries; i++) {
        const answer = await exchange(port, post('/users', `Content-Length: ${size}\r\n`), (socket) => socket.write(body));
        assertCatalogue(answer, 'BODY_TOO_LARGE', `${size} bytes, try ${i + 1}`);
        assert.equal(answer.headers.connection, 'close', 'the unread rest of the body: the connection is closed');
      }
    }
    assert.deepEqual(await clientFaultCounters(app), { upstreamErrors: 0, serverErrors: 0 });
  });

  test('an over-limit Content-Length is refused before relaying: the upstream never sees it', async () => {
    const { app, port } = await startGateway();
    const seen = early.seen;
    const limit = loadConfig({}).bodyLimitBytes;
    const post413 = await exchange(port, post('/ops/alerts', `Content-Length: ${limit + 1}\r\n`), (s) =>
      s.write(Buffer.alloc(limit + 1, 'x')),
    );
    assertCatalogue(post413, 'BODY_TOO_LARGE', 'POST one byte over');
    const get413 = await exchange(port, `GET /ops/incidents HTTP/1.1\r\nHost: g\r\nContent-Length: 20000000\r\n\r\n`);
    assertCatalogue(get413, 'BODY_TOO_LARGE', 'a GET declaring a body over the limit');
    assert.equal(early.seen, seen, 'nothing reached the upstream');
    const within = await exchange(port, post('/ops/alerts', `Content-Length: ${limit}\r\nConnection: close\r\n`), (s) =>
      s.write(Buffer.alloc(limit, 'x')),
    );
    assert.equal(within.status, 401, 'a body of exactly the limit is relayed');
    assert.equal(early.seen, seen + 1);
    assert.deepEqual(await clientFaultCounters(app), { upstreamErrors: 0, serverErrors: 0 });
  });

  test('Expect: 100-continue over the limit → 413 at once without 100 Continue; within → 100 then the answer; another Expect → 417', async () => {
    const { port } = await startGateway();
    const refused = await exchange(port, post('/users', 'Content-Length: 20000000\r\nExpect: 100-continue\r\n'));
    assert.doesNotMatch(refused.raw, /100 Continue/, 'the client is not invited to send 20 MB');
    assertCatalogue(refused, 'BODY_TOO_LARGE', 'Expect with an over-limit length');

    const payload = JSON.stringify({ name: 'Alice', password: 'inWonderland' });
    const invited = await new Promise<string>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      let text = '';
      socket.on('data', (chunk: Buffer) => {
        text += chunk.toString('utf8');
        // The body goes only once the gateway has invited it.
        if (text.startsWith('HTTP/1.1 100 Continue\r\n\r\n') && !text.includes('\r\n\r\n', 25)) socket.write(payload);
      });
      socket.on('close', () => resolve(text));
      socket.write(post('/users/login', `Content-Length: ${payload.length}\r\nExpect: 100-continue\r\nConnection: close\r\n`));
    });
    assert.match(invited, /^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 OK\r\n/);
    assert.match(invited, /"token":"/);

    const other = await exchange(port, post('/users/login', 'Content-Length: 2\r\nExpect: something-else\r\n'));
    assertCatalogue(other, 'EXPECTATION_FAILED', 'Expect: something-else');
  });

  test('a chunked body growing past the limit → 413 and the connection closed, never relayed, nothing counted', async () => {
    const { app, port } = await startGateway();
    const seen = early.seen;
    const chunk = `4000\r\n${'x'.repeat(0x4000)}\r\n`;
    for (const path of ['/users', '/ops/alerts']) {
      const answer = await exchange(port, post(path, 'Transfer-Encoding: chunked\r\n'), (socket) => {
        for (let i = 0; i < 64; i++) socket.write(chunk);
        socket.write('0\r\n\r\n');
      });
      assertCatalogue(answer, 'BODY_TOO_LARGE', `chunked to ${path}`);
      assert.equal(answer.headers.connection, 'close');
    }
    assert.equal(early.seen, seen, 'the upstream saw nothing');
    assert.deepEqual(await clientFaultCounters(app), { upstreamErrors: 0, serverErrors: 0 });
  });

  test('an upstream that answers before reading a 1 MiB body and resets: its answer is relayed, never a 502, nothing counted', async () => {
    const { app, port } = await startGateway({ BODY_LIMIT_BYTES: '1048576' });
    const body = Buffer.alloc(1_048_576, 'x');
    for (let i = 0; i < 10; i++) {
      const answer = await exchange(port, post('/ops/alerts', `Content-Length: ${body.length}\r\nConnection: close\r\n`), (s) =>
        s.write(body),
      );
      assert.equal(answer.status, 401, `try ${i + 1}: ${answer.raw.slice(0, 200)}`);
      assert.deepEqual(JSON.parse(answer.body), { error: 'refused early' });
    }
    assert.deepEqual(await clientFaultCounters(app), { upstreamErrors: 0, serverErrors: 0 });
  });
});

describe("gateway: operators' health checks and the rate limit (issue 8, defect 14)", { timeout: 30_000 }, () => {
  test('rate limit exhausted from loopback: health and readiness still answer 200, haddock health and check report all healthy', async () => {
    const { base } = await startGateway({ RATE_LIMIT_PER_MINUTE: '3' });
    for (let i = 0; i < 3; i++) assert.equal((await fetch(`${base}/quotes/1`).then(consume)).status, 200);
    const limited = await fetch(`${base}/quotes/1`);
    assert.equal(limited.status, 429);
    assert.ok(Number(limited.headers.get('retry-after')) > 0, 'Retry-After on the 429');
    assert.deepEqual(await limited.json(), { error: ERRORS.RATE_LIMITED.message });

    const probes = ['users', 'quotes', 'search'].flatMap((s) => [`/${s}/health`, `/${s}/health/ready`, `/${s}/health/live`]);
    for (let round = 0; round < 2; round++) {
      for (const path of [...probes, '/gateway/health']) {
        const response = await fetch(`${base}${path}`);
        assert.equal(response.status, 200, `${path} after the limit (round ${round + 1})`);
        assert.equal(response.headers.get('x-ratelimit-limit'), null, `${path} is not counted`);
        await response.arrayBuffer();
      }
    }
    assert.equal((await fetch(`${base}/quotes/1`).then(consume)).status, 429, 'the limit still holds elsewhere');
    assert.equal((await fetch(`${base}/users/health/me`).then(consume)).status, 429, 'only the health paths are exempt');

    const health = await checkHealth({ services: urls, gatewayHealthUrl: gatewayHealthUrl(base), timeoutMs: 2_000 });
    assert.deepEqual(
      health.map((r) => [r.service, r.healthy]),
      [
        ['users', true],
        ['quotes', true],
        ['search', true],
        ['gateway', true],
      ],
    );
    for (const r of health.slice(0, 3))
      assert.ok(r.url.startsWith(urls[r.service as keyof typeof urls]), `${r.service} asked directly`);
    assert.equal((await checkServices(urls)).status, 'pass');
    const gateway = await checkGateway(gatewayHealthUrl(base));
    assert.equal(gateway.status, 'pass', gateway.detail);
  });
});

describe('gateway: every answer of its own is {"error"} from the catalogue (issue 8, defect 8)', { timeout: 30_000 }, () => {
  const H = 'Host: gateway.test\r\nConnection: close\r\n';
  const own: Array<[string, string, ErrorCode]> = [
    ['a dot-dot segment', `GET /users/../quotes HTTP/1.1\r\n${H}\r\n`, 'VALIDATION_FAILED'],
    ['an escaped dot-dot segment', `GET /users/%2e%2e/quotes HTTP/1.1\r\n${H}\r\n`, 'VALIDATION_FAILED'],
    ['a backslash turning the path into another origin', `GET /\\evil.example HTTP/1.1\r\n${H}\r\n`, 'VALIDATION_FAILED'],
    ['a backslash path traversal', `GET /quotes\\..\\users/me HTTP/1.1\r\n${H}\r\n`, 'VALIDATION_FAILED'],
    ['a fragment in the request target', `GET /users/health#/x HTTP/1.1\r\n${H}\r\n`, 'VALIDATION_FAILED'],
    ['a bad percent-escape', `GET /users/%zz HTTP/1.1\r\n${H}\r\n`, 'VALIDATION_FAILED'],
    ['no Host in HTTP/1.1', `GET /users HTTP/1.1\r\nConnection: close\r\n\r\n`, 'VALIDATION_FAILED'],
    ['CONNECT', `CONNECT users.example:443 HTTP/1.1\r\n${H}\r\n`, 'METHOD_NOT_ALLOWED'],
    ['/metrics on the public port', `GET /metrics HTTP/1.1\r\n${H}\r\n`, 'ROUTE_NOT_FOUND'],
    ['Expect other than 100-continue', `GET /quotes/1 HTTP/1.1\r\n${H}Expect: nope\r\n\r\n`, 'EXPECTATION_FAILED'],
  ];
  const relayed: Array<[string, string, number]> = [
    ['TRACE', `TRACE /users HTTP/1.1\r\n${H}\r\n`, 404],
    ['PROPFIND', `PROPFIND /users HTTP/1.1\r\n${H}\r\n`, 404],
    ['an escaped slash', `GET /users%2fme HTTP/1.1\r\n${H}\r\n`, 404],
    ['an absolute-form target', `GET http://gateway.test/users/me HTTP/1.1\r\n${H}\r\n`, 401],
    ['OPTIONS *', `OPTIONS * HTTP/1.1\r\n${H}\r\n`, 404],
  ];

  test('odd targets, methods and headers: the catalogue status and body, no other field', async () => {
    const { app, port } = await startGateway();
    for (const [what, request, code] of own) assertCatalogue(await exchange(port, request), code, what);
    for (const [what, request, status] of relayed) assertErrorShape(await exchange(port, request), status, what);
    assert.deepEqual(await clientFaultCounters(app), { upstreamErrors: 0, serverErrors: 0 });
  });
});

async function consume(response: Response): Promise<Response> {
  await response.arrayBuffer();
  return response;
}
