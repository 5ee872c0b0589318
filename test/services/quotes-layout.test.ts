import assert from 'node:assert/strict';
import { after, before, type TestContext, test } from 'node:test';
import type { Redis } from 'ioredis';
import { redisUrlConfig } from '../../src/lib/config/index.ts';
import { createRedis, waitForRedis } from '../../src/lib/redis/index.ts';
import { type Quote, QuoteStore } from '../../src/services/quotes/quote-store.ts';
import { ADMIN, quotesApp, scoped } from '../helpers/apps.ts';
import { seededRandom } from '../helpers/random.ts';
import { cleanPrefix, connectRedis, requireRedis, startPrivateRedis, testRedisUrl, uniquePrefix } from '../helpers/redis.ts';

const url = testRedisUrl();
const filePrefix = uniquePrefix('quotes-layout');
let redis: Redis;
let count = 0;
const freshPrefix = () => `${filePrefix}${++count}:`;
const SLOW = { timeout: 30_000 };

before(async () => {
  await requireRedis(url);
  redis = connectRedis(url);
  await redis.connect();
});

after(async () => {
  await cleanPrefix(url, filePrefix);
  redis?.disconnect();
});

/** The reference: every stored quote, read whole and sorted by id (fine at test sizes). */
async function naive(prefix: string): Promise<Quote[]> {
  const all = Object.values(await redis.hgetall(`${prefix}quotes`)).map((json) => JSON.parse(json) as Quote);
  return all.sort((a, b) => a.id - b.id);
}

/** The hash-only layout of before the id index, written directly: ids 1..n with some missing. */
async function writeOldLayout(prefix: string, n: number, missing: (id: number) => boolean): Promise<number[]> {
  const ids: number[] = [];
  const write = redis.pipeline();
  for (let id = 1; id <= n; id++) {
    if (missing(id)) continue;
    ids.push(id);
    write.hset(
      `${prefix}quotes`,
      String(id),
      JSON.stringify({ id, quote: `Ancien juron ${id}`, created_at: '2024-01-01T00:00:00.000Z' }),
    );
  }
  write.set(`${prefix}quotes:next-id`, String(n));
  write.set(`${prefix}quotes:seeded`, '2024-01-01T00:00:00.000Z');
  write.set(`${prefix}quotes:version`, '1718000000000000');
  await write.exec();
  return ids;
}

async function ownClient(t: TestContext): Promise<Redis> {
  const client = createRedis(redisUrlConfig(url, { commandTimeoutMs: 5_000 }));
  t.after(() => client.disconnect());
  await waitForRedis(client, 5_000);
  return client;
}

async function listIds(app: Awaited<ReturnType<typeof quotesApp>>, query: string) {
  const res = await app.inject({ url: `/quotes?${query}` });
  assert.equal(res.statusCode, 200, res.body);
  return { total: Number(res.headers['x-total-count']), quotes: res.json() as Quote[] };
}

test(
  'a database of the previous layout (hash only) is migrated on start: the id index is built, the service pages it',
  SLOW,
  async (t) => {
    const prefix = freshPrefix();
    const ids = await writeOldLayout(prefix, 12_000, (id) => id % 7 === 3);
    // A stale id in an index that does not match the hash is dropped as well.
    await redis.zadd(`${prefix}quotes:ids`, 99_999, '99999');
    const app = await scoped(t, quotesApp({ prefix }));

    assert.equal(await redis.zcard(`${prefix}quotes:ids`), ids.length);
    assert.equal(await redis.zscore(`${prefix}quotes:ids`, '99999'), null);
    assert.equal(await redis.exists(`${prefix}quotes:version`), 0, 'the old version key is gone');
    assert.match((await redis.get(`${prefix}quotes:generation`)) ?? '', /^\d{16,}$/, 'a new generation');
    assert.equal(await redis.hlen(`${prefix}quotes`), ids.length, 'nothing seeded on top: the database was seeded');
    const reference = await naive(prefix);
    for (const offset of [0, 5_000, ids.length - 10]) {
      const page = await listIds(app, `offset=${offset}&limit=100`);
      assert.equal(page.total, ids.length);
      assert.deepEqual(page.quotes, reference.slice(offset, offset + 100), `offset ${offset}`);
    }
    assert.equal((await app.inject({ url: '/quotes/health/ready' })).statusCode, 200);
  },
);

test('GET /quotes at offsets 0, middle and end returns exactly the naive slice of random data with deletes', SLOW, async (t) => {
  const prefix = freshPrefix();
  const app = await scoped(t, quotesApp({ prefix, env: { SEED_ON_START: 'false' } }));
  const store = new QuoteStore(await ownClient(t), prefix);
  const next = seededRandom(11);
  const texts = Array.from({ length: 3_000 }, (_, i) => `Mille sabords ${i} ${Math.floor(next() * 1e6)}`);
  assert.equal(await store.appendMany(texts, 700), texts.length);
  for (let i = 0; i < 400; i++) await store.delete(1 + Math.floor(next() * texts.length), null);
  await store.update(17, 'Tonnerre de Brest', null);

  const reference = await naive(prefix);
  const n = reference.length;
  assert.ok(n < texts.length && n > 2_500, `${n} quotes after the deletes`);
  assert.equal(await store.count(), n);
  for (const offset of [0, 1, Math.floor(n / 2), n - 7, n - 1, n, n + 5]) {
    for (const limit of [1, 7, 100, 1_000]) {
      const page = await listIds(app, `offset=${offset}&limit=${limit}`);
      assert.equal(page.total, n);
      assert.deepEqual(page.quotes, reference.slice(offset, offset + limit), `offset ${offset}, limit ${limit}`);
    }
  }
  // Pages longer than one script call (5,000) join up.
  assert.deepEqual((await store.pageWithTotal(3, 6_000)).quotes, reference.slice(3));
});

test('the restore hook moves the generation forward and rebuilds an index the restored data lacks', async (t) => {
  const prefix = freshPrefix();
  const store = new QuoteStore(await ownClient(t), prefix);
  const ids = await writeOldLayout(prefix, 3_000, (id) => id % 5 === 0);
  const before = await store.generation();
  await store.invalidateSnapshots();
  const after = await store.generation();
  assert.ok(BigInt(after) > BigInt(before), `${after} should be past ${before}`);
  assert.equal(await store.count(), ids.length);
  assert.deepEqual(
    (await store.page(0, 5)).map((q) => q.id),
    ids.slice(0, 5),
  );
  // Again on consistent data: nothing to rebuild, the generation still moves.
  await store.invalidateSnapshots();
  assert.ok(BigInt(await store.generation()) > BigInt(after));
});

test('readChunk, getMany, streamHead and readChanges: the catalogue a chunk at a time and its changes in order', async (t) => {
  const prefix = freshPrefix();
  const store = new QuoteStore(await ownClient(t), prefix);
  const reader = await ownClient(t);
  assert.equal(await store.streamHead(), '0-0');
  await store.appendMany(['un', 'deux', 'trois', 'quatre', 'cinq']);
  await store.delete(2, null);

  assert.deepEqual(
    (await store.readChunk(0, 2)).map((q) => q.id),
    [1, 3],
  );
  assert.deepEqual(
    (await store.readChunk(3, 10)).map((q) => q.id),
    [4, 5],
  );
  assert.deepEqual(await store.readChunk(5, 10), []);
  assert.deepEqual(
    (await store.getMany([5, 2, 1, 42])).map((q) => [q.id, q.quote]),
    [
      [5, 'cinq'],
      [1, 'un'],
    ],
  );

  const all = await store.readChanges(reader, '0-0', 10, 100);
  assert.equal(all.trimmed, false);
  assert.deepEqual(
    all.entries.map((c) => [c.op, c.id, c.quote?.quote]),
    [
      ['put', 1, 'un'],
      ['put', 2, 'deux'],
      ['put', 3, 'trois'],
      ['put', 4, 'quatre'],
      ['put', 5, 'cinq'],
      ['del', 2, undefined],
    ],
  );
  const head = await store.streamHead();
  assert.equal(head, all.entries.at(-1)?.streamId);

  // Nothing new: the blocking read returns empty after blockMs; a write is seen from the head on.
  assert.deepEqual(await store.readChanges(reader, head, 20, 100), { entries: [], trimmed: false });
  const created = await store.create('six', '1');
  const later = await store.readChanges(reader, head, 1_000, 100);
  assert.deepEqual(
    later.entries.map((c) => [c.op, c.id, c.quote]),
    [['put', created.id, created]],
  );

  // A position the stream went back past (a restore, a failover): trimmed, rebuild.
  const [ms = 0] = head.split('-').map(Number);
  assert.equal((await store.readChanges(reader, `${ms + 3_600_000}-0`, 10, 100)).trimmed, true);
});

test('readChanges reports trimmed when the stream was cut past the reader, and when it is gone', async (t) => {
  const prefix = freshPrefix();
  const store = new QuoteStore(await ownClient(t), prefix, { streamMaxLen: 10 });
  const reader = await ownClient(t);
  await store.appendMany(['premier']);
  const position = await store.streamHead();
  assert.equal((await store.readChanges(reader, position, 10, 10)).trimmed, false);
  // MAXLEN ~ trims whole stream nodes (100 entries by default): 1,000 writes cut well past the position.
  await store.appendMany(Array.from({ length: 1_000 }, (_, i) => `juron ${i}`));
  assert.ok((await redis.xlen(`${prefix}quotes:changes`)) < 1_000, 'the stream is capped');
  assert.equal((await store.readChanges(reader, position, 10, 10)).trimmed, true);
  await redis.del(`${prefix}quotes:changes`);
  assert.equal((await store.readChanges(reader, position, 10, 10)).trimmed, true);
  assert.equal((await store.readChanges(reader, '0-0', 10, 10)).trimmed, false, 'from the start nothing is missed');
});

test(
  'at maxmemory a refused write records no change, reads (pages, chunks) are served, a delete records its own',
  SLOW,
  async (t) => {
    const privateRedis = await startPrivateRedis();
    t.after(() => privateRedis.stop());
    const prefix = 'full:';
    const app = await scoped(t, quotesApp({ prefix, redisUrl: privateRedis.url }));
    const client = connectRedis(privateRedis.url);
    await client.connect();
    t.after(() => client.disconnect());
    const post = (quote: string) =>
      app.inject({ method: 'POST', url: '/quotes', headers: ADMIN, payload: { user_id: '0', quote } });
    assert.equal((await post('Avant la crue')).statusCode, 201);
    const changes = () => client.xlen(`${prefix}quotes:changes`);
    assert.equal(await changes(), 1);

    const used = Number(/^used_memory:(\d+)/m.exec(await client.info('memory'))?.[1]);
    await client.config('SET', 'maxmemory', String(used - 256 * 1024));
    assert.equal((await post('Pendant la crue')).statusCode, 503);
    const put = await app.inject({ method: 'PUT', url: '/quotes/3', headers: ADMIN, payload: { quote: 'Inondé' } });
    assert.equal(put.statusCode, 503);
    assert.equal(await changes(), 1, 'refused writes record nothing');
    assert.equal(await client.hlen(`${prefix}quotes`), 416);

    const page = await app.inject({ url: '/quotes?offset=410&limit=10' });
    assert.equal(page.statusCode, 200, page.body);
    assert.deepEqual(
      (page.json() as Quote[]).map((q) => q.id),
      [411, 412, 413, 414, 415, 416],
    );
    assert.equal((await new QuoteStore(client, prefix).readChunk(414, 10)).length, 2);

    // Redis runs a delete at maxmemory (it frees memory): the script's change goes with it.
    assert.equal((await app.inject({ method: 'DELETE', url: '/quotes/416', headers: ADMIN })).statusCode, 200);
    assert.equal(await changes(), 2);
  },
);
