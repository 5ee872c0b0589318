import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { type Env, EnvReader, readHttpConfig } from '../../src/lib/config/index.ts';
import { createHttpApp, hasMetricsApp, metricsAppOf } from '../../src/lib/http/index.ts';
import { parseJsonBody } from '../../src/lib/http/json-body.ts';
import { buildAlertSink } from '../../src/platform/alert-sink/app.ts';
import { loadConfig as loadAlertSinkConfig } from '../../src/platform/alert-sink/config.ts';
import { buildGateway } from '../../src/platform/gateway/app.ts';
import { loadConfig as loadGatewayConfig } from '../../src/platform/gateway/config.ts';
import { ADMIN, quotesApp, searchApp } from '../helpers/apps.ts';
import { cleanPrefix, requireRedis, testRedisUrl, uniquePrefix } from '../helpers/redis.ts';

// Issue 8, defects 8 and 13: every error a listener answers is the contract's `{"error": "<French>"}`, whatever
// the parser or the protocol refused, and slow clients are cut off.

interface Answer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Sends raw bytes, reads until the server closes (or `waitMs`), and returns the first final answer. */
async function exchange(port: number, request: string | Buffer, waitMs = 3_000): Promise<Answer> {
  const socket = connect(port, '127.0.0.1');
  socket.on('error', () => {});
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.write(request);
  const timer = setTimeout(() => socket.destroy(), waitMs);
  await once(socket, 'close');
  clearTimeout(timer);
  return firstFinalAnswer(Buffer.concat(chunks), request.toString().startsWith('HEAD '));
}

function firstFinalAnswer(bytes: Buffer, head: boolean): Answer {
  let rest = bytes;
  for (;;) {
    const end = rest.indexOf('\r\n\r\n');
    assert.ok(end > 0, `no complete answer in ${JSON.stringify(rest.toString('latin1'))}`);
    const [statusLine = '', ...lines] = rest.subarray(0, end).toString('latin1').split('\r\n');
    const status = Number(statusLine.split(' ')[1]);
    const headers = Object.fromEntries(
      lines.map((line) => [line.slice(0, line.indexOf(':')).toLowerCase(), line.slice(line.indexOf(':') + 1).trim()]),
    );
    rest = rest.subarray(end + 4);
    if (status === 100) continue;
    const length = head ? 0 : Number(headers['content-length'] ?? rest.length);
    return { status, headers, body: rest.subarray(0, length).toString('utf8') };
  }
}

/** The contract: exactly `{"error": "<message>"}` as JSON, no internal code, no path, no stack. */
function assertContractError(answer: Answer, status: number, message: string, what: string, path?: string): void {
  assert.equal(answer.status, status, `${what}: ${answer.status} ${answer.body}`);
  assert.match(answer.headers['content-type'] ?? '', /^application\/json/, `${what}: content type`);
  const body = JSON.parse(answer.body) as Record<string, unknown>;
  assert.deepEqual(Object.keys(body), ['error'], `${what}: ${answer.body}`);
  assert.equal(body.error, message, what);
  assert.doesNotMatch(answer.body, /FST_|ERR_|HPE_|statusCode|\bat .*:\d+/, `${what}: internals in ${answer.body}`);
  if (path !== undefined && path.length > 3) assert.ok(!answer.body.includes(path), `${what}: the path is echoed`);
}

const H = 'Host: haddock.test\r\nConnection: close\r\n';
const JSON_CT = 'Content-Type: application/json\r\n';
const ADMIN_H = `Authorization: ${ADMIN.authorization}\r\n`;
const LONG_PATH = `/quotes/${'1'.repeat(20_000)}`;
const LONG_QUERY = `/quotes?x=${'1'.repeat(100_000)}`;

const MESSAGES = {
  invalid: 'Requête invalide',
  notFound: 'Route non trouvée',
  quoteNotFound: 'Citation non trouvée',
  tooLong: 'URL trop longue',
  headers: 'En-têtes de requête trop volumineux',
  expectation: 'En-tête Expect non pris en charge (seul 100-continue est accepté)',
  mediaType: 'Type de contenu non supporté (application/json attendu)',
  json: 'Corps JSON invalide',
  tooLarge: 'Corps de requête trop volumineux',
  quoteId: 'Identifiant de citation invalide',
  unicode: 'Texte invalide : UTF-8 mal formé ou caractère Unicode incomplet',
} as const;

/** [what, request bytes, status, message (undefined: HEAD, no body), path the body must not echo]. */
const PROTOCOL_CASES: ReadonlyArray<readonly [string, string | Buffer, number, string | undefined, string?]> = [
  ['a URL over Node’s header limit', `GET ${LONG_PATH} HTTP/1.1\r\n${H}\r\n`, 414, MESSAGES.tooLong, LONG_PATH],
  ['a query over 64 KiB', `GET ${LONG_QUERY} HTTP/1.1\r\n${H}\r\n`, 414, MESSAGES.tooLong, LONG_QUERY],
  [
    'a path parameter over maxParamLength',
    `GET /quotes/${'1'.repeat(300)} HTTP/1.1\r\n${H}\r\n`,
    414,
    MESSAGES.tooLong,
    '1'.repeat(300),
  ],
  ['a bad percent-escape in the path', `GET /quotes/%E0%A4%A HTTP/1.1\r\n${H}\r\n`, 400, MESSAGES.invalid, '%E0%A4%A'],
  ['a bad percent-escape in the query', `GET /quotes?limit=%ZZ HTTP/1.1\r\n${H}\r\n`, 400, "'limit' doit être de type integer"],
  ['headers over Node’s limit', `GET /quotes/1 HTTP/1.1\r\n${H}X-Big: ${'a'.repeat(20_000)}\r\n\r\n`, 431, MESSAGES.headers],
  ['Expect: foo', `GET /quotes/1 HTTP/1.1\r\n${H}Expect: foo\r\n\r\n`, 417, MESSAGES.expectation],
  [
    'Expect: 100-continue, then a malformed body',
    `POST /quotes HTTP/1.1\r\n${H}${ADMIN_H}${JSON_CT}Expect: 100-continue\r\nContent-Length: 3\r\n\r\n{x}`,
    400,
    MESSAGES.json,
  ],
  ['a malformed request line', 'GARBAGE\r\n\r\n', 400, MESSAGES.invalid],
  ['an unknown HTTP version', `GET /quotes/1 HTTP/9.9\r\n${H}\r\n`, 400, MESSAGES.invalid],
  ['a NUL in the request target', `GET /quotes/1\u0000 HTTP/1.1\r\n${H}\r\n`, 400, MESSAGES.invalid],
  ['a control character in a header', `GET /quotes/1 HTTP/1.1\r\n${H}X-A: a\u0001b\r\n\r\n`, 400, MESSAGES.invalid],
  ['HTTP/1.1 without Host', 'GET /quotes/1 HTTP/1.1\r\nConnection: close\r\n\r\n', 400, MESSAGES.invalid],
  [
    'two Content-Length headers',
    `POST /quotes HTTP/1.1\r\n${H}${JSON_CT}Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}`,
    400,
    MESSAGES.invalid,
  ],
  [
    'Content-Length and Transfer-Encoding together',
    `POST /quotes HTTP/1.1\r\n${H}${JSON_CT}Content-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n`,
    400,
    MESSAGES.invalid,
  ],
  [
    'a bad chunk size',
    `POST /quotes HTTP/1.1\r\n${H}${JSON_CT}Transfer-Encoding: chunked\r\n\r\nZZ\r\n{}\r\n0\r\n\r\n`,
    400,
    MESSAGES.invalid,
  ],
  ['Transfer-Encoding: gzip', `POST /quotes HTTP/1.1\r\n${H}${JSON_CT}Transfer-Encoding: gzip\r\n\r\n`, 400, MESSAGES.invalid],
  ['a negative Content-Length', `POST /quotes HTTP/1.1\r\n${H}${JSON_CT}Content-Length: -1\r\n\r\n`, 400, MESSAGES.invalid],
  ['HTTP/1.0 for an unknown quote', 'GET /quotes/99999 HTTP/1.0\r\n\r\n', 404, MESSAGES.quoteNotFound],
  ['an unknown method Node refuses (FOO)', `FOO /quotes/1 HTTP/1.1\r\n${H}\r\n`, 400, MESSAGES.invalid],
  ['PROPFIND', `PROPFIND /quotes/1 HTTP/1.1\r\n${H}\r\n`, 404, MESSAGES.notFound],
  ['OPTIONS', `OPTIONS /quotes/1 HTTP/1.1\r\n${H}\r\n`, 404, MESSAGES.notFound],
  ['OPTIONS *', `OPTIONS * HTTP/1.1\r\n${H}\r\n`, 404, MESSAGES.notFound],
  ['HEAD on a 404', `HEAD /nowhere HTTP/1.1\r\n${H}\r\n`, 404, undefined],
  [
    'Content-Type: application/json; charset=latin1',
    `POST /quotes HTTP/1.1\r\n${H}${ADMIN_H}Content-Type: application/json; charset=latin1\r\nContent-Length: 2\r\n\r\n{}`,
    415,
    MESSAGES.mediaType,
  ],
  [
    'a Content-Type that does not parse',
    `POST /quotes HTTP/1.1\r\n${H}${ADMIN_H}Content-Type: ;;;\r\nContent-Length: 2\r\n\r\n{}`,
    415,
    MESSAGES.mediaType,
  ],
  [
    'a JSON body that is not UTF-8',
    Buffer.concat([
      Buffer.from(`POST /quotes HTTP/1.1\r\n${H}${ADMIN_H}${JSON_CT}Content-Length: 30\r\n\r\n{"user_id":"0","quote":"a`),
      Buffer.from([0xff, 0xff, 0xff]),
      Buffer.from('"}'),
    ]),
    400,
    MESSAGES.unicode,
  ],
  ['a non-canonical quote id', `GET /quotes/0x10 HTTP/1.1\r\n${H}\r\n`, 400, MESSAGES.quoteId],
];

describe('protocol and parse errors on a service listener', { timeout: 60_000 }, () => {
  const prefix = uniquePrefix('http-hardening');
  let quotes: FastifyInstance;
  let search: FastifyInstance;
  let quotesPort: number;
  let searchPort: number;

  before(async () => {
    await requireRedis();
    quotes = await quotesApp({ prefix });
    search = await searchApp({ prefix });
    quotesPort = Number(new URL(await quotes.listen({ host: '127.0.0.1', port: 0 })).port);
    searchPort = Number(new URL(await search.listen({ host: '127.0.0.1', port: 0 })).port);
  });

  after(async () => {
    await quotes?.close();
    await search?.close();
    await cleanPrefix(testRedisUrl(), prefix);
  });

  test('every error is exactly {"error": "<French message>"} with its status: no internal code, path or stack', async () => {
    for (const [what, request, status, message, path] of PROTOCOL_CASES) {
      const answer = await exchange(quotesPort, request);
      if (message === undefined) {
        assert.equal(answer.status, status, what);
        assert.equal(answer.body, '', `${what}: no body`);
        continue;
      }
      assertContractError(answer, status, message, what, path);
    }
  });

  test('Expect: 100-continue over the body limit → 413 at once, never 100 Continue; within it → 100, then the answer', async () => {
    const ask = async (length: number) => {
      const socket = connect(quotesPort, '127.0.0.1');
      socket.on('error', () => {});
      const chunks: Buffer[] = [];
      socket.on('data', (chunk: Buffer) => chunks.push(chunk));
      // Headers only: a client that waits for 100 Continue sends nothing more until invited.
      socket.write(`POST /quotes HTTP/1.1\r\n${H}${ADMIN_H}${JSON_CT}Expect: 100-continue\r\nContent-Length: ${length}\r\n\r\n`);
      const timer = setTimeout(() => socket.destroy(), 1_500);
      await once(socket, 'close');
      clearTimeout(timer);
      return Buffer.concat(chunks).toString('latin1');
    };
    const over = await ask(10_000_000);
    assert.doesNotMatch(over, /^HTTP\/1\.1 100/, over);
    assertContractError(firstFinalAnswer(Buffer.from(over, 'latin1'), false), 413, MESSAGES.tooLarge, 'over the limit');
    const within = await ask(20);
    assert.match(within, /^HTTP\/1\.1 100 Continue\r\n\r\n/, within);
  });

  test('a body on GET is ignored, and bad escapes in a search keyword are searched for, never a crash', async () => {
    const get = await exchange(quotesPort, `GET /quotes/1 HTTP/1.1\r\n${H}${JSON_CT}Content-Length: 3\r\n\r\n{x}`);
    assert.equal(get.status, 200, get.body);
    for (const keyword of ['%ZZ', '%E0%A4%A', '%FF']) {
      const answer = await exchange(searchPort, `GET /search?keyword=${keyword} HTTP/1.1\r\n${H}${ADMIN_H}\r\n`);
      assert.ok(answer.status < 500, `${keyword}: ${answer.status} ${answer.body}`);
      if (answer.status >= 400) assertContractError(answer, answer.status, JSON.parse(answer.body).error, keyword);
    }
  });
});

function httpConfig(env: Env) {
  const reader = new EnvReader(env);
  const config = readHttpConfig(reader);
  reader.done();
  return config;
}

const LOG = { logLevel: 'info', logFile: undefined, logStdout: true } as const;

describe('a request arriving while the app closes', () => {
  test('→ 503 {"error"} with Retry-After, not Fastify’s default body', async (t) => {
    const app = await createHttpApp({ service: 'test', config: { ...LOG, ...httpConfig({}) }, logger: false, docs: false });
    let release: () => void = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    let arrived: () => void = () => {};
    const inFlight = new Promise<void>((resolve) => {
      arrived = resolve;
    });
    app.get('/slow', async () => {
      arrived();
      await held;
      return { done: true };
    });
    app.get('/fast', async () => ({ done: true }));
    t.after(() => app.close());
    const port = Number(new URL(await app.listen({ host: '127.0.0.1', port: 0 })).port);

    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.write('GET /slow HTTP/1.1\r\nHost: x\r\n\r\n');
    await inFlight;
    const closing = app.close();
    // The next request on the same kept-alive connection arrives during the drain.
    socket.write('GET /fast HTTP/1.1\r\nHost: x\r\n\r\n');
    await new Promise((resolve) => setTimeout(resolve, 100));
    release();
    await closing;
    if (!socket.destroyed) await once(socket, 'close');
    const text = Buffer.concat(chunks).toString('utf8');
    const second = text.slice(text.indexOf('HTTP/1.1', 1));
    assertContractError(firstFinalAnswer(Buffer.from(second), false), 503, "Service en cours d'arrêt, réessayez", 'during close');
    assert.match(second, /retry-after: 1/i);
  });
});

describe('slow clients are cut off (headers 1 s, request 2 s, keep-alive 1 s, checked every 200 ms)', { timeout: 30_000 }, () => {
  const env = {
    HTTP_HEADERS_TIMEOUT_MS: '1000',
    HTTP_REQUEST_TIMEOUT_MS: '2000',
    HTTP_KEEP_ALIVE_TIMEOUT_MS: '1000',
    HTTP_CONNECTIONS_CHECK_INTERVAL_MS: '200',
  };
  let app: FastifyInstance;
  let port: number;

  before(async () => {
    app = await createHttpApp({ service: 'test', config: { ...LOG, ...httpConfig(env) }, logger: false, docs: false });
    app.get('/items/:id', async (request) => ({ id: (request.params as { id: string }).id }));
    app.post('/echo', async (request) => request.body ?? {});
    port = Number(new URL(await app.listen({ host: '127.0.0.1', port: 0 })).port);
  });

  after(async () => {
    await app?.close();
  });

  /** Writes `head` at once, then one byte of `drip` every 200 ms until the server closes; ms until closed and what it said. */
  async function dribble(head: string, drip: string): Promise<{ elapsed: number; text: string }> {
    const socket: Socket = connect(port, '127.0.0.1');
    socket.on('error', () => {});
    let text = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      text += chunk;
    });
    await once(socket, 'connect');
    const started = Date.now();
    socket.write(head);
    let i = 0;
    const timer = setInterval(() => {
      if (!socket.destroyed) socket.write(drip[i++ % drip.length] ?? 'a');
    }, 200);
    const hardStop = setTimeout(() => socket.destroy(), 10_000);
    await once(socket, 'close');
    clearInterval(timer);
    clearTimeout(hardStop);
    return { elapsed: Date.now() - started, text };
  }

  test('headers sent one byte every 200 ms: cut off after the headers timeout (408 JSON), before 5 s', async () => {
    const { elapsed, text } = await dribble('GET /items/1 HTTP/1.1\r\nHost: x\r\nX-Slow: ', 'abcdefgh');
    assert.ok(elapsed >= 900 && elapsed < 5_000, `closed after ${elapsed} ms`);
    assert.match(text, /^HTTP\/1\.1 408 /);
    assert.ok(text.endsWith('{"error":"Requête trop lente à recevoir"}'), text);
  });

  test('a body sent one byte every 200 ms: cut off by the request timeout, before 5 s', async () => {
    const { elapsed, text } = await dribble(
      'POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n["',
      'abcdefgh',
    );
    assert.ok(elapsed >= 1_800 && elapsed < 5_000, `closed after ${elapsed} ms`);
    if (text !== '') {
      assert.match(text, /^HTTP\/1\.1 408 /);
      assert.ok(text.endsWith('{"error":"Requête trop lente à recevoir"}'), text);
    }
  });

  test('an idle keep-alive connection is closed after the keep-alive timeout, before 5 s', async () => {
    const socket = connect(port, '127.0.0.1');
    socket.on('error', () => {});
    let text = '';
    socket.setEncoding('utf8');
    const answered = new Promise<number>((resolve) => {
      socket.on('data', (chunk: string) => {
        text += chunk;
        if (text.includes('{"id":"1"}')) resolve(Date.now());
      });
    });
    socket.write('GET /items/1 HTTP/1.1\r\nHost: x\r\n\r\n');
    const answeredAt = await answered;
    await once(socket, 'close');
    const idle = Date.now() - answeredAt;
    assert.match(text, /keep-alive/i, 'the answer kept the connection open');
    assert.ok(idle >= 800 && idle < 5_000, `closed after ${idle} ms idle`);
  });
});

describe('every listener takes its timeouts and check interval from HTTP_*', { timeout: 30_000 }, () => {
  const env = {
    HTTP_HEADERS_TIMEOUT_MS: '4000',
    HTTP_REQUEST_TIMEOUT_MS: '20000',
    HTTP_KEEP_ALIVE_TIMEOUT_MS: '61000',
    HTTP_CONNECTIONS_CHECK_INTERVAL_MS: '250',
  };
  const expected = [4_000, 20_000, 61_000, 250];
  const settings = (app: FastifyInstance) => [
    app.server.headersTimeout,
    app.server.requestTimeout,
    app.server.keepAliveTimeout,
    (app.server as unknown as { connectionsCheckingInterval: number }).connectionsCheckingInterval,
  ];

  test('a service and its metrics listener, the gateway and its metrics listener, the alert sink', async (t) => {
    await requireRedis();
    const prefix = uniquePrefix('http-timeouts');
    const dir = await mkdtemp(join(tmpdir(), 'haddock-timeouts-'));
    t.after(async () => {
      await cleanPrefix(testRedisUrl(), prefix);
      await rm(dir, { recursive: true, force: true });
    });
    const quotes = await quotesApp({ prefix, env });
    t.after(() => quotes.close());
    const gateway = await buildGateway(loadGatewayConfig(env), { logger: false, openapi: {} });
    t.after(() => gateway.close());
    const sink = await buildAlertSink(loadAlertSinkConfig({ ...env, HADDOCK_VAR_DIR: dir }), { logger: false });
    t.after(() => sink.close());
    const listeners: Array<[string, FastifyInstance]> = [
      ['quotes', quotes],
      ['gateway', gateway],
      ['gateway metrics', gateway.metricsApp],
      ['alert sink', sink],
    ];
    if (hasMetricsApp(quotes)) listeners.push(['quotes metrics', metricsAppOf(quotes)]);
    for (const [name, app] of listeners) assert.deepEqual(settings(app), expected, name);
  });
});

describe('parseJsonBody', () => {
  const refused = (text: string | Buffer, code: string) => () =>
    assert.throws(() => parseJsonBody(Buffer.isBuffer(text) ? text : Buffer.from(text)), { code });

  test('keeps refusing prototype poisoning as Fastify’s parser did: __proto__ and constructor.prototype', () => {
    refused('{"a":1,"__proto__":{"admin":true}}', 'INVALID_JSON')();
    refused('{"a":{"\\u005f_proto__":{"admin":true}}}', 'INVALID_JSON')();
    refused('[{"constructor":{"prototype":{"admin":true}}}]', 'INVALID_JSON')();
    assert.deepEqual(parseJsonBody(Buffer.from('{"constructor":"fine","proto":1}')), { constructor: 'fine', proto: 1 });
  });

  test('refuses invalid UTF-8 and lone surrogates, in values and keys; accepts pairs, a BOM and deep nesting', () => {
    refused(Buffer.from([0x7b, 0x22, 0xc3, 0x22, 0x3a, 0x31, 0x7d]), 'UNICODE_INVALID')();
    refused('["\\udfff"]', 'UNICODE_INVALID')();
    refused('{"\\ud800":1}', 'UNICODE_INVALID')();
    refused('', 'INVALID_JSON')();
    refused('{"a":', 'INVALID_JSON')();
    assert.deepEqual(parseJsonBody(Buffer.from('\ufeff{"a":"\\ud83d\\udea2 é"}')), { a: '🚢 é' });
    const depth = 50_000;
    const deep = `${'['.repeat(depth)}"\\u00e9"${']'.repeat(depth)}`;
    assert.ok(Array.isArray(parseJsonBody(Buffer.from(deep))));
  });
});
