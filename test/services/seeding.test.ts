import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, type TestContext, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import { hashPassword } from '../../src/lib/auth/index.ts';
import { redisUrlConfig } from '../../src/lib/config/index.ts';
import { createRedis, waitForRedis } from '../../src/lib/redis/index.ts';
import { readQuotesFile, readUsersFile } from '../../src/lib/seed/index.ts';
import { QuoteStore } from '../../src/services/quotes/quote-store.ts';
import { UserStore } from '../../src/services/users/user-store.ts';
import { ADMIN, quotesApp, SEED_QUOTE_COUNT, scoped, usersApp } from '../helpers/apps.ts';
import { cleanPrefix, connectRedis, requireRedis, testRedisUrl, uniquePrefix } from '../helpers/redis.ts';

const url = testRedisUrl();
const filePrefix = uniquePrefix('seeding');
let redis: Redis;
let count = 0;
const freshPrefix = () => `${filePrefix}${++count}:`;
const SLOW = { timeout: 30_000 };
const REPLICAS = 5;

before(async () => {
  await requireRedis(url);
  redis = connectRedis(url);
  await redis.connect();
});

after(async () => {
  await cleanPrefix(url, filePrefix);
  redis?.disconnect();
});

/** Collects the JSON log lines of several apps, to read what each seeder reported. */
function logCollector() {
  const entries: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line.length > 0) entries.push(JSON.parse(line));
      done();
    },
  });
  return { entries, stream };
}

/** Clients of their own, so that the scripts really race on the server. */
async function clients(t: TestContext, n: number): Promise<Redis[]> {
  const list = Array.from({ length: n }, () => createRedis(redisUrlConfig(url, { commandTimeoutMs: 5_000 })));
  t.after(() => {
    for (const client of list) client.disconnect();
  });
  await Promise.all(list.map((client) => waitForRedis(client, 5_000)));
  return list;
}

test(`${REPLICAS} quotes and ${REPLICAS} users replicas starting together seed exactly once`, SLOW, async (t) => {
  const prefix = freshPrefix();
  const logs = logCollector();
  const options = { logger: true, logStream: logs.stream };
  const apps: FastifyInstance[] = await Promise.all([
    ...Array.from({ length: REPLICAS }, () => quotesApp({ prefix, env: { LOG_LEVEL: 'INFO' }, options })),
    ...Array.from({ length: REPLICAS }, () => usersApp({ prefix, env: { LOG_LEVEL: 'INFO' }, options })),
  ]);
  t.after(() => Promise.all(apps.map((app) => app.close())));

  assert.equal(await redis.hlen(`${prefix}quotes`), SEED_QUOTE_COUNT);
  assert.equal(await redis.get(`${prefix}quotes:next-id`), '415');
  // A new database's generation is the server clock (µs), so no reader's token
  // from before a data loss can match it by chance.
  assert.match((await redis.get(`${prefix}quotes:generation`)) ?? '', /^\d{16,}$/);
  assert.equal(await redis.zcard(`${prefix}quotes:ids`), SEED_QUOTE_COUNT);
  assert.equal(await redis.exists(`${prefix}quotes:seed-progress`), 0, 'the progress counter goes once seeded');
  assert.equal(await redis.exists(`${prefix}quotes:seed-lease`), 0, 'the lease is released');
  assert.equal(await redis.exists(`${prefix}quotes:seeded`), 1);
  assert.equal(await redis.hlen(`${prefix}users`), 3);
  assert.equal(await redis.hlen(`${prefix}users:by-name`), 3);
  assert.equal(await redis.exists(`${prefix}users:seeded`), 1);

  const reports = logs.entries.filter((e) => typeof e.seed === 'string' && typeof e.inserted === 'number');
  const bySeed = (name: string) => reports.filter((e) => e.seed === name).map((e) => e.inserted as number);
  const quotesReports = bySeed('quotes');
  const usersReports = bySeed('users');
  assert.equal(quotesReports.length, REPLICAS, 'every quotes replica reports its seeding');
  assert.equal(usersReports.length, REPLICAS, 'every users replica reports its seeding');
  assert.equal(
    quotesReports.reduce((a, b) => a + b, 0),
    SEED_QUOTE_COUNT,
  );
  assert.equal(quotesReports.filter((n) => n > 0).length, 1);
  assert.equal(
    usersReports.reduce((a, b) => a + b, 0),
    3,
  );
  assert.equal(usersReports.filter((n) => n > 0).length, 1);

  // Every replica is ready and serves the same catalogue.
  for (const app of apps.slice(0, REPLICAS)) {
    const res = await app.inject({ url: '/quotes?limit=1' });
    assert.equal(res.headers['x-total-count'], '415');
    assert.equal((await app.inject({ url: '/quotes/health' })).statusCode, 200);
  }
});

test(
  'QuoteStore.seed called concurrently on a fresh prefix inserts once: one call reports 415, the others 0',
  SLOW,
  async (t) => {
    const prefix = freshPrefix();
    const texts = await readQuotesFile('data/initial_data_quotes.csv');
    const stores = (await clients(t, REPLICAS)).map((client) => new QuoteStore(client, prefix));
    const inserted = await Promise.all(stores.map((store) => store.seed(texts)));
    assert.deepEqual(
      [...inserted].sort((a, b) => a - b),
      [0, 0, 0, 0, SEED_QUOTE_COUNT],
    );
    assert.equal(await redis.hlen(`${prefix}quotes`), SEED_QUOTE_COUNT);
    assert.equal(await redis.get(`${prefix}quotes:next-id`), '415');
  },
);

test('UserStore.seed called concurrently on a fresh prefix inserts once: one call reports 3, the others 0', SLOW, async (t) => {
  const prefix = freshPrefix();
  const users = await Promise.all(
    (await readUsersFile('data/initial_data_users.csv')).map(async ({ id, name, password }) => ({
      id,
      name,
      password_hash: await hashPassword(password),
    })),
  );
  const stores = (await clients(t, REPLICAS)).map((client) => new UserStore(client, prefix));
  const inserted = await Promise.all(stores.map((store) => store.seed(users)));
  assert.deepEqual(
    [...inserted].sort((a, b) => a - b),
    [0, 0, 0, 0, 3],
  );
  assert.equal(await redis.hlen(`${prefix}users`), 3);
});

test('QuoteStore.seed never lowers the id counter below ids already handed out', async (t) => {
  const prefix = freshPrefix();
  await redis.set(`${prefix}quotes:next-id`, '1000');
  const [client] = await clients(t, 1);
  assert.equal(await new QuoteStore(client as Redis, prefix).seed(['a', 'b']), 2);
  assert.equal(await redis.get(`${prefix}quotes:next-id`), '1000');
});

test('a restarted quotes service does not seed again: a deleted seed quote stays deleted', SLOW, async (t) => {
  const prefix = freshPrefix();
  const first = await quotesApp({ prefix });
  const res = await first.inject({ method: 'DELETE', url: '/quotes/7', headers: ADMIN });
  assert.equal(res.statusCode, 200);
  await first.close();

  const second = await scoped(t, quotesApp({ prefix }));
  assert.equal(await redis.hlen(`${prefix}quotes`), SEED_QUOTE_COUNT - 1);
  assert.equal((await second.inject({ url: '/quotes' })).headers['x-total-count'], '414');
  assert.equal((await second.inject({ url: '/quotes/7' })).statusCode, 404);
  assert.equal(await redis.get(`${prefix}quotes:next-id`), '415');
});

test('a restarted users service does not seed again: a deleted seed user stays deleted', SLOW, async (t) => {
  const prefix = freshPrefix();
  const first = await usersApp({ prefix });
  assert.equal((await first.inject({ method: 'DELETE', url: '/users/1', headers: ADMIN })).statusCode, 200);
  await first.close();

  const second = await scoped(t, usersApp({ prefix }));
  assert.equal(await redis.hlen(`${prefix}users`), 2);
  const login = await second.inject({ method: 'POST', url: '/users/login', payload: { name: 'Bob', password: 'squarePants' } });
  assert.equal(login.statusCode, 401);
});

test('SEED_ON_START=false starts with an empty catalogue and stays ready', async (t) => {
  const prefix = freshPrefix();
  const app = await scoped(t, quotesApp({ prefix, env: { SEED_ON_START: 'false' } }));
  const res = await app.inject({ url: '/quotes' });
  assert.deepEqual(res.json(), []);
  assert.equal(res.headers['x-total-count'], '0');
  assert.equal(await redis.exists(`${prefix}quotes:seeded`), 0);
  assert.equal((await app.inject({ url: '/quotes/health' })).body, '{"message":"healthy"}');
});
