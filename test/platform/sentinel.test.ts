import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { EnvReader, type RedisAddress, readRedisConfig, readRedisKeyPrefix } from '../../src/lib/config/index.ts';
import { ERRORS } from '../../src/lib/errors/index.ts';
import { createDirectRedis } from '../../src/lib/redis/index.ts';
import { takeBackup, takeInventory } from '../../src/ops/backup/index.ts';
import { readOpsConfig } from '../../src/ops/config.ts';
import { quotesApp, SEED_USERS, searchApp, usersApp } from '../helpers/apps.ts';
import { type SentinelRedis, startSentinelRedis } from '../helpers/sentinel.ts';

const PREFIX = 'haddock:';

interface Answer {
  readonly status: number;
  // biome-ignore lint/suspicious/noExplicitAny: a JSON body, read field by field in assertions
  readonly body: any;
}

/** Reads one key straight from one server, not through Sentinel: where did a write land? */
async function hgetOn(server: RedisAddress, key: string, field: string): Promise<string | null> {
  const redis = createDirectRedis(server);
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    return await redis.hget(key, field);
  } finally {
    redis.disconnect();
  }
}

/** CLIENT LIST of one server. */
async function clientList(server: RedisAddress): Promise<string> {
  const redis = createDirectRedis(server);
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    return (await redis.call('CLIENT', 'LIST')) as string;
  } finally {
    redis.disconnect();
  }
}

/** Polls until `attempt` gives an answer `ok` (and `confirm`, when given) accept; fails with the last answer seen. */
async function until(
  what: string,
  timeoutMs: number,
  attempt: () => Promise<Answer>,
  ok: (a: Answer) => boolean,
  confirm: (a: Answer) => Promise<boolean> = async () => true,
): Promise<Answer> {
  const deadline = Date.now() + timeoutMs;
  let last: Answer | string = 'no answer';
  for (;;) {
    try {
      const answer = await attempt();
      if (ok(answer) && (await confirm(answer))) return answer;
      last = answer;
    } catch (err) {
      last = (err as Error).message;
    }
    if (Date.now() > deadline)
      assert.fail(`${what}: not within ${timeoutMs} ms after the failover (last: ${JSON.stringify(last)})`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe('the services on a Sentinel-managed Redis (primary, replica, three Sentinels)', () => {
  let redis: SentinelRedis;
  const apps: FastifyInstance[] = [];
  const base: Record<'users' | 'quotes' | 'search', string> = { users: '', quotes: '', search: '' };
  let backupDir: string;

  async function call(service: keyof typeof base, method: string, path: string, token?: string, body?: unknown) {
    const response = await fetch(`${base[service]}${path}`, {
      method,
      headers: {
        ...(token === undefined ? {} : { authorization: token }),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(5_000),
    });
    return { status: response.status, body: await response.json() } as Answer;
  }

  const [alice] = SEED_USERS;
  const login = () => call('users', 'POST', '/users/login', undefined, { name: alice.name, password: alice.password });
  const addQuote = (token: string, quote: string) => call('quotes', 'POST', '/quotes', token, { user_id: alice.id, quote });

  before(async () => {
    redis = await startSentinelRedis();
    const env = redis.env();
    for (const [name, build] of [
      ['users', usersApp],
      ['quotes', quotesApp],
      ['search', searchApp],
    ] as const) {
      const app = await build({ prefix: PREFIX, env });
      apps.push(app);
      await app.listen({ host: '127.0.0.1', port: 0 });
      base[name] = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    }
    backupDir = await mkdtemp(join(tmpdir(), 'haddock-sentinel-backups-'));
  });

  after(async () => {
    await Promise.all(apps.map((app) => app.close()));
    await redis?.stop();
    if (backupDir) await rm(backupDir, { recursive: true, force: true });
  });

  test('a write that meets a read-only replica answers 503 and makes the client reconnect', { timeout: 30_000 }, async () => {
    const replica = redis.servers[1] as RedisAddress;
    // Pointed straight at the replica: what a client still on a demoted primary meets after a failover.
    const app = await usersApp({
      prefix: PREFIX,
      redisUrl: `redis://${replica.host}:${replica.port}`,
      env: { SEED_ON_START: 'false' },
    });
    try {
      const connectionIds = async () =>
        (await clientList(replica))
          .split('\n')
          .filter((line) => line.includes('name=haddock-users'))
          .map((line) => /\bid=(\d+)/.exec(line)?.[1]);
      const [before] = await connectionIds();
      assert.ok(before, 'the users service is connected to the replica');
      const res = await app.inject({
        method: 'POST',
        url: '/users/login',
        payload: { name: alice.name, password: alice.password },
      });
      assert.equal(res.statusCode, 503, res.body);
      assert.deepEqual(res.json(), { error: ERRORS.REDIS_UNAVAILABLE.message });
      const deadline = Date.now() + 10_000;
      let after = await connectionIds();
      while ((after.length === 0 || after.includes(before)) && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        after = await connectionIds();
      }
      assert.ok(after.length === 1 && after[0] !== before, `a new connection replaced ${before}: ${after.join(', ')}`);
    } finally {
      await app.close();
    }
  });

  test('they answer, follow a SENTINEL FAILOVER, and write to the new primary', { timeout: 60_000 }, async () => {
    const first = await redis.primary();
    assert.deepEqual(first, redis.servers[0], 'the first server starts as the primary');

    const loggedIn = await login();
    assert.equal(loggedIn.status, 200, JSON.stringify(loggedIn.body));
    const token = loggedIn.body.token as string;
    const created = await addQuote(token, 'Avant la bascule');
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.ok(await hgetOn(first, `${PREFIX}quotes`, String(created.body.id)), 'the write landed on the first primary');
    const found = await call('search', 'GET', '/search?keyword=bascule', token);
    assert.equal(found.status, 200, JSON.stringify(found.body));

    const next = await redis.failover();
    assert.notDeepEqual(next, first, 'the Sentinels named the other server');

    // Right after the failover a request may meet a closed connection (503); then writes must reach the new primary.
    let landed: string | null = null;
    const written = await until(
      `a write through the quotes service landing on the new primary ${next.host}:${next.port}`,
      15_000,
      () => addQuote(token, 'Après la bascule'),
      (a) => a.status === 201,
      async (a) => {
        landed = await hgetOn(next, `${PREFIX}quotes`, String(a.body.id));
        return landed !== null;
      },
    );
    assert.match(landed ?? '', /Après la bascule/);
    const again = await until('a login through the users service', 15_000, login, (a) => a.status === 200);
    assert.equal(typeof again.body.token, 'string');
    const read = await until(
      'a read of the new quote',
      15_000,
      () => call('quotes', 'GET', `/quotes/${String(written.body.id)}`),
      (a) => a.status === 200,
    );
    assert.equal(read.body.quote, 'Après la bascule');
    const searched = await until(
      'a search through the search service',
      15_000,
      () => call('search', 'GET', '/search?keyword=bascule', token),
      (a) => a.status === 200,
    );
    assert.ok(JSON.stringify(searched.body).includes('Après la bascule'), JSON.stringify(searched.body));
  });

  test('a backup taken after the failover streams from the new primary', { timeout: 60_000 }, async () => {
    const primary = await redis.primary();
    assert.notDeepEqual(primary, redis.servers[0], 'runs after the failover of the previous test');
    const reader = new EnvReader({ ...redis.env(), REDIS_KEY_PREFIX: PREFIX, BACKUP_DIR: backupDir });
    const config = readOpsConfig(reader, {
      redis: readRedisConfig(reader, { url: 'redis://127.0.0.1:1' }),
      redisKeyPrefix: readRedisKeyPrefix(reader),
    });
    reader.done();
    assert.equal(config.redis.mode, 'sentinel');

    const manifest = await takeBackup(config);
    assert.equal(manifest.source, `${primary.host}:${primary.port}`, 'the snapshot came from the primary the Sentinels name now');
    const live = createDirectRedis(primary);
    live.on('error', () => undefined);
    try {
      await live.connect();
      const inventory = await takeInventory(live, PREFIX);
      assert.equal(manifest.keys.total, inventory.total);
      assert.equal(manifest.content_digest, inventory.contentDigest, 'the snapshot holds the writes made after the failover');
    } finally {
      live.disconnect();
    }
  });
});
