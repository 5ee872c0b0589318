import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, type TestContext, test } from 'node:test';
import { redisUrlConfig } from '../../src/lib/config/index.ts';
import { createRedis, type Redis, waitForRedis } from '../../src/lib/redis/index.ts';
import { foldText } from '../../src/lib/text/index.ts';
import { QuoteStore, type QuoteStoreOptions } from '../../src/services/quotes/quote-store.ts';
import {
  type CatalogueSource,
  type IndexLog,
  QuoteSearch,
  type QuoteSearchOptions,
  storeSource,
} from '../../src/services/search/search-index.ts';
import { ADMIN, eventually, quotesApp, scoped, searchApp } from '../helpers/apps.ts';
import { seededRandom } from '../helpers/random.ts';
import { cleanPrefix, requireRedis, testRedisUrl, uniquePrefix } from '../helpers/redis.ts';

const url = testRedisUrl();
const filePrefix = uniquePrefix('search-follow');
let count = 0;
const freshPrefix = () => `${filePrefix}${++count}:`;
const SLOW = { timeout: 60_000 };

before(() => requireRedis(url));
after(() => cleanPrefix(url, filePrefix));

async function client(t: TestContext, commandTimeoutMs = 5_000): Promise<Redis> {
  const redis = createRedis(redisUrlConfig(url, { commandTimeoutMs }));
  t.after(() => redis.disconnect());
  await waitForRedis(redis, 5_000);
  return redis;
}

async function storeOn(t: TestContext, prefix: string, options: QuoteStoreOptions = {}): Promise<QuoteStore> {
  return new QuoteStore(await client(t), prefix, options);
}

/** A search index following the catalogue on its own reader connection, stopped when the test ends. */
async function follower(
  t: TestContext,
  prefix: string,
  options: QuoteSearchOptions & { wrap?: (source: CatalogueSource) => CatalogueSource } = {},
): Promise<QuoteSearch> {
  const reader = await client(t, 3_000);
  const source = storeSource(new QuoteStore(await client(t), prefix), reader);
  const search = new QuoteSearch(options.wrap?.(source) ?? source, { blockMs: 100, ...options });
  search.start();
  t.after(async () => {
    const stopped = search.stop();
    reader.disconnect();
    await stopped;
  });
  await eventually(async () => search.ready, 10_000, 'the index is built');
  return search;
}

/** The naive reference over the whole catalogue, read from Redis. */
async function naive(store: QuoteStore, keyword: string, limit: number): Promise<number[]> {
  const key = foldText(keyword);
  const ids: number[] = [];
  for (let after = 0; ; ) {
    const chunk = await store.readChunk(after, 1_000);
    const last = chunk.at(-1);
    if (last === undefined) break;
    for (const q of chunk) if (foldText(q.quote).includes(key)) ids.push(q.id);
    after = last.id;
  }
  return ids.slice(0, limit);
}

const WORDS = ['Zouave', 'aérolithe', 'Bachi-bouzouk', 'mille', 'sabords', 'ŒUVRE', 'tonnerre', 'Brest'];
const KEYWORDS = ['zouave', 'aerolithe', 'oeuvre', 'mille sabords', 'e', 'xyzzy'];

const textOf = (next: () => number) =>
  Array.from({ length: 1 + Math.floor(next() * 3) }, () => WORDS[Math.floor(next() * WORDS.length)]).join('\u00A0');

async function sameAsNaive(search: QuoteSearch, store: QuoteStore): Promise<boolean> {
  for (const keyword of KEYWORDS) {
    const found = (await search.search(keyword, 1_000)).map((q) => q.id);
    if (JSON.stringify(found) !== JSON.stringify(await naive(store, keyword, 1_000))) return false;
  }
  return true;
}

/** Random creates, updates and deletes through one store. */
async function writeRandomly(store: QuoteStore, next: () => number, writes: number): Promise<void> {
  for (let i = 0; i < writes; i++) {
    const roll = next();
    const last = (await store.readChunk(0, 1_000)).at(-1)?.id ?? 1;
    const id = 1 + Math.floor(next() * last);
    if (roll < 0.4) await store.create(textOf(next), '0');
    else if (roll < 0.7) await store.update(id, textOf(next), null);
    else await store.delete(id, null);
  }
}

test(
  'search index: two replicas converge after interleaved writes from two writers, by following the stream alone',
  SLOW,
  async (t) => {
    const prefix = freshPrefix();
    const writerA = await storeOn(t, prefix);
    const writerB = await storeOn(t, prefix);
    const next = seededRandom(7);
    await writerA.appendMany(Array.from({ length: 200 }, () => textOf(next)));
    // No catch-up at search time: only the followers' blocking reads bring the changes in.
    const replicas = [await follower(t, prefix, { catchUpWaitMs: 0 }), await follower(t, prefix, { catchUpWaitMs: 0 })];
    await Promise.all([writeRandomly(writerA, seededRandom(8), 60), writeRandomly(writerB, seededRandom(9), 60)]);
    for (const [i, replica] of replicas.entries()) {
      await eventually(() => sameAsNaive(replica, writerA), 10_000, `replica ${i + 1} matches the naive reference`);
    }
  },
);

test('search index: a stream trimmed past its position rebuilds in full, and the results are right after', SLOW, async (t) => {
  const prefix = freshPrefix();
  // A stream of about 10 entries (MAXLEN ~: trimmed a whole node, 100 entries, at a time).
  const writer = await storeOn(t, prefix, { streamMaxLen: 10 });
  const next = seededRandom(21);
  await writer.appendMany(Array.from({ length: 50 }, () => textOf(next)));
  let gate: Promise<void> | undefined;
  const reasons: string[] = [];
  const log: IndexLog = {
    info: (data) => reasons.push(String((data as { reason?: unknown }).reason)),
    warn: () => undefined,
  };
  const search = await follower(t, prefix, {
    log,
    wrap: (source) => ({
      ...source,
      readChanges: async (...args) => {
        await gate;
        return source.readChanges(...args);
      },
    }),
  });
  assert.deepEqual(reasons, ['start']);
  let open: () => void = () => undefined;
  gate = new Promise((resolve) => {
    open = resolve;
  });
  // Its read in progress ends within the block time; the next one waits at the gate while the stream moves on.
  await new Promise((resolve) => setTimeout(resolve, 300));
  for (let i = 0; i < 300; i++) await writer.update(1 + (i % 50), textOf(next), null);
  await writer.create('Zouave des Carpates', '0');
  gate = undefined;
  open();
  await eventually(async () => reasons.includes('stream trimmed past the index position'), 10_000, 'the index rebuilt');
  assert.ok(await sameAsNaive(search, writer), 'results equal the naive reference after the rebuild');
  assert.deepEqual(
    (await search.search('carpates', 10)).map((q) => q.quote),
    ['Zouave des Carpates'],
  );
});

test('search service: a restore (keys replaced outside the stream, new generation) reaches the index', SLOW, async (t) => {
  const prefix = freshPrefix();
  await scoped(t, quotesApp({ prefix }));
  const search = await scoped(t, searchApp({ prefix }));
  const find = async (keyword: string) =>
    (await search.inject({ url: `/search?keyword=${encodeURIComponent(keyword)}`, headers: ADMIN })).json() as string[];
  assert.deepEqual(await find('accapareur'), ['Accapareur']);
  const redis = await client(t);
  const store = new QuoteStore(redis, prefix);
  // What a restore does underneath: the catalogue's keys change with no stream entry, then the restore hook runs.
  const restored = { id: 1, quote: 'Accapareur restauré', created_at: new Date().toISOString() };
  await redis.hset(store.keys.quotes, '1', JSON.stringify(restored));
  await store.invalidateSnapshots();
  await eventually(
    async () => JSON.stringify(await find('accapareur')) === JSON.stringify(['Accapareur restauré']),
    10_000,
    'the restored text is found',
  );
});

test(
  'search service: builds 50,000 quotes under a 200 ms command timeout without one timing out, not ready until built',
  SLOW,
  async (t) => {
    const prefix = freshPrefix();
    const writer = await storeOn(t, prefix);
    const texts = Array.from({ length: 50_000 }, (_, i) => `${WORDS[i % WORDS.length]} n°${i}`);
    await writer.appendMany(texts);
    const lines: string[] = [];
    const logStream = new Writable({
      write(chunk, _encoding, done) {
        lines.push(...String(chunk).split('\n').filter(Boolean));
        done();
      },
    });
    const app = await scoped(
      t,
      searchApp({ prefix, env: { REDIS_COMMAND_TIMEOUT_MS: '200', LOG_LEVEL: 'info' }, options: { logStream } }),
    );
    const first = await app.inject({ url: '/search/health/ready' });
    assert.equal(first.statusCode, 503, 'not ready while the index is being built');
    assert.match(first.body, /index/);
    await eventually(async () => (await app.inject({ url: '/search/health/ready' })).statusCode === 200, 30_000, 'ready');
    const messages = lines.map((line) => JSON.parse(line) as { msg?: string; quotes?: number; attempt?: number });
    assert.deepEqual(
      messages.filter((m) => m.msg === 'search index: reading the catalogue failed, retrying'),
      [],
      'no chunk read failed (timed out)',
    );
    const built = messages.filter((m) => m.msg === 'search index built');
    assert.equal(built.length, 1);
    assert.equal(built[0]?.quotes, 50_000);
    assert.equal(built[0]?.attempt, 1);
    const res = await app.inject({ url: '/search?keyword=zouave%20n%C2%B01&limit=1000', headers: ADMIN });
    const expected = texts.filter((text) => foldText(text).includes(foldText('zouave n°1'))).slice(0, 1_000);
    assert.deepEqual(res.json(), expected);
  },
);
