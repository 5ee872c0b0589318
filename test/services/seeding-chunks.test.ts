import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, type TestContext, test } from 'node:test';
import type { Redis } from 'ioredis';
import { redisUrlConfig } from '../../src/lib/config/index.ts';
import { metricsAppOf } from '../../src/lib/http/index.ts';
import { createRedis, waitForRedis } from '../../src/lib/redis/index.ts';
import { parseQuotesFile, readQuotesLines } from '../../src/lib/seed/index.ts';
import { type Quote, QuoteStore } from '../../src/services/quotes/quote-store.ts';
import { eventually, quotesApp, scoped } from '../helpers/apps.ts';
import { parseMetrics, value } from '../helpers/metrics.ts';
import { cleanPrefix, connectRedis, requireRedis, testRedisUrl, uniquePrefix } from '../helpers/redis.ts';

const url = testRedisUrl();
const filePrefix = uniquePrefix('seeding-chunks');
const dir = mkdtempSync(join(tmpdir(), 'haddock-seeding-chunks-'));
const BIG = 50_000;
let redis: Redis;
let count = 0;
const freshPrefix = () => `${filePrefix}${++count}:`;
const SLOW = { timeout: 60_000 };
let bigFile: string;
let bigQuotes: string[];

/**
 * A seed file of `n` quotes with what the parser must cope with: the header, CRLF and LF line ends, a blank
 * line every 1,000, quoted lines with doubled quotes, commas, a non-breaking space, accents.
 */
async function seedFile(name: string, n: number): Promise<{ path: string; quotes: string[] }> {
  const lines = ['\uFEFFquote'];
  for (let i = 1; i <= n; i++) {
    if (i % 1_000 === 0) lines.push('   ');
    if (i % 997 === 0) lines.push(`"Il a dit ""Mille sabords"" n°${i}"`);
    else lines.push(`Bachi-bouzouk, ectoplasme\u00a0à roulettes n°${i} ${'é'.repeat(i % 13)}`);
  }
  const text = lines.map((line, i) => (i % 3 === 0 ? `${line}\r` : line)).join('\n');
  const path = join(dir, name);
  await writeFile(path, text);
  const quotes = parseQuotesFile(text);
  assert.equal(quotes.length, n);
  return { path, quotes };
}

before(async () => {
  await requireRedis(url);
  redis = connectRedis(url);
  await redis.connect();
  ({ path: bigFile, quotes: bigQuotes } = await seedFile('big.csv', BIG));
});

after(async () => {
  await cleanPrefix(url, filePrefix);
  redis?.disconnect();
  rmSync(dir, { recursive: true, force: true });
});

/** Clients of their own (as replicas have), closed when the test ends. */
async function clients(t: TestContext, n: number, commandTimeoutMs = 5_000): Promise<Redis[]> {
  const list = Array.from({ length: n }, () => createRedis(redisUrlConfig(url, { commandTimeoutMs })));
  t.after(() => {
    for (const client of list) client.disconnect();
  });
  await Promise.all(list.map((client) => waitForRedis(client, 5_000)));
  return list;
}

/** Every quote of a prefix, read back a chunk at a time. */
async function everyQuote(store: QuoteStore): Promise<Quote[]> {
  const all: Quote[] = [];
  for (let after = 0; ; ) {
    const chunk = await store.readChunk(after, 5_000);
    all.push(...chunk);
    if (chunk.length < 5_000) return all;
    after = (chunk.at(-1) as Quote).id;
  }
}

/** Asserts the prefix holds exactly `quotes`, line i as id i, in the hash and the id index. */
async function assertSeeded(prefix: string, quotes: readonly string[]): Promise<void> {
  const store = new QuoteStore(redis, prefix);
  assert.equal(await redis.hlen(`${prefix}quotes`), quotes.length);
  assert.equal(await redis.zcard(`${prefix}quotes:ids`), quotes.length);
  assert.equal(Number(await redis.get(`${prefix}quotes:next-id`)), quotes.length);
  assert.equal(await redis.exists(`${prefix}quotes:seeded`), 1);
  assert.equal(await redis.exists(`${prefix}quotes:seed-progress`), 0);
  const stored = await everyQuote(store);
  assert.deepEqual(
    stored.map((q) => q.id),
    quotes.map((_, i) => i + 1),
  );
  const wrong = stored.findIndex((q, i) => q.quote !== quotes[i]);
  assert.equal(wrong, -1, `quote ${wrong + 1} differs: ${JSON.stringify(stored[wrong])}`);
}

test('readQuotesLines streams exactly what parseQuotesFile parses (header, BOM, CRLF, blanks, quoted lines)', async () => {
  const cases = [
    'quote\nA\nB',
    '\uFEFFQuote\r\n"A, b"\r\n\r\n  C  \r\n',
    'no header\n"say ""hi"""\n\n',
    'quote',
    '',
    'A\rB\nC\r',
  ];
  for (const [i, text] of cases.entries()) {
    const path = join(dir, `case-${i}.csv`);
    await writeFile(path, text);
    const streamed: string[] = [];
    for await (const quote of readQuotesLines(path)) streamed.push(quote);
    assert.deepEqual(streamed, parseQuotesFile(text), JSON.stringify(text));
  }
  // A file larger than one read of the stream: lines cut across reads come out whole.
  const streamed: string[] = [];
  for await (const quote of readQuotesLines(bigFile)) streamed.push(quote);
  assert.deepEqual(streamed, parseQuotesFile(await readFile(bigFile, 'utf8')));
});

test(
  `a ${BIG.toLocaleString('en')}-line seed file loads in chunks under a 200 ms command timeout, never hitting it`,
  SLOW,
  async (t) => {
    const prefix = freshPrefix();
    const app = await scoped(t, quotesApp({ prefix, env: { QUOTES_SEED_FILE: bigFile, REDIS_COMMAND_TIMEOUT_MS: '200' } }));
    await eventually(async () => (await app.inject({ url: '/quotes/health/ready' })).statusCode === 200, 30_000, 'ready');
    const metrics = parseMetrics((await metricsAppOf(app).inject({ url: '/metrics' })).body);
    assert.equal(value(metrics, 'haddock_seed_failures_total'), 0, 'no seeding attempt failed (a timed-out chunk would)');
    await assertSeeded(prefix, bigQuotes);
    const last = await app.inject({ url: `/quotes?offset=${BIG - 2}` });
    assert.equal(last.headers['x-total-count'], String(BIG));
    assert.deepEqual(
      (last.json() as Quote[]).map((q) => [q.id, q.quote]),
      [
        [BIG - 1, bigQuotes[BIG - 2]],
        [BIG, bigQuotes[BIG - 1]],
      ],
    );
  },
);

test(
  'two replicas seeding a multi-chunk file together load it exactly once: one inserts all, the other waits',
  SLOW,
  async (t) => {
    const prefix = freshPrefix();
    const stores = (await clients(t, 2)).map((client) => new QuoteStore(client, prefix, { chunkSize: 1_000, pollMs: 50 }));
    const inserted = await Promise.all(stores.map((store) => store.seed(() => readQuotesLines(bigFile))));
    assert.deepEqual(
      [...inserted].sort((a, b) => a - b),
      [0, BIG],
    );
    await assertSeeded(prefix, bigQuotes);
    assert.equal(await redis.exists(`${prefix}quotes:seed-lease`), 0, 'the lease is released');
    assert.equal(await redis.xlen(`${prefix}quotes:changes`), 0, 'seeding moves the generation, not the stream');
    assert.match((await redis.get(`${prefix}quotes:generation`)) ?? '', /^\d{16,}$/);
  },
);

test(
  'a seeder killed halfway (SIGKILL) is resumed by the next replica once its lease expires: every line once',
  SLOW,
  async (t) => {
    const prefix = freshPrefix();
    const leaseTtlMs = 1_000;
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', join(import.meta.dirname, 'seeding-killed-child.ts'), url, prefix, bigFile, String(leaseTtlMs)],
      { stdio: ['ignore', 'ignore', 'inherit'] },
    );
    t.after(() => child.kill('SIGKILL'));
    const exited = once(child, 'exit');
    await eventually(async () => Number(await redis.get(`${prefix}quotes:seed-progress`)) > 0, 20_000, 'the child seeds a chunk');
    child.kill('SIGKILL');
    await exited;
    const progress = Number(await redis.get(`${prefix}quotes:seed-progress`));
    assert.ok(progress > 0 && progress < BIG, `killed halfway (progress ${progress})`);
    assert.ok((await redis.pttl(`${prefix}quotes:seed-lease`)) > 0, 'the dead seeder still holds its lease');
    assert.equal(await redis.exists(`${prefix}quotes:seeded`), 0);

    const [client] = await clients(t, 1);
    const next = new QuoteStore(client as Redis, prefix, { leaseTtlMs, pollMs: 50 });
    const inserted = await next.seed(() => readQuotesLines(bigFile));
    assert.equal(inserted, BIG - progress, 'the next replica loads only what was left');
    await assertSeeded(prefix, bigQuotes);
  },
);

test('a chunk is written only at the progress counter: a stale seeder cannot load lines twice', async (t) => {
  const prefix = freshPrefix();
  const [a, b] = await clients(t, 2);
  // A resumes from the counter, which B moved meanwhile: A's writes must not duplicate B's.
  await redis.set(`${prefix}quotes:seed-progress`, '0');
  const first = new QuoteStore(a as Redis, prefix, { chunkSize: 2, pollMs: 20 });
  const texts = ['un', 'deux', 'trois', 'quatre', 'cinq'];
  const slowSource = async function* () {
    for (const [i, text] of texts.entries()) {
      // After A's first chunk, another seeder advances the counter behind A's back (its lease "expired").
      if (i === 2) await redis.set(`${prefix}quotes:seed-progress`, '4');
      yield text;
    }
  };
  const second = new QuoteStore(b as Redis, prefix, { chunkSize: 2, pollMs: 20 });
  const inserted = await first.seed(slowSource);
  // A wrote lines 1–2, found the counter at 4 instead of 2, gave up its lease and started over from 4: line 5.
  assert.equal(inserted, 1);
  assert.equal(await second.seed(texts), 0, 'seeded now');
  assert.deepEqual(await redis.hkeys(`${prefix}quotes`), ['1', '2', '5']);
});
