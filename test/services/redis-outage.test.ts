import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance, InjectOptions } from 'fastify';
import { ADMIN, auth, eventually, login, quotesApp, SEED_QUOTE_COUNT, SEED_USERS, searchApp, usersApp } from '../helpers/apps.ts';
import { type PrivateRedis, startPrivateRedis } from '../helpers/redis.ts';

// The contract: while Redis is down every data route answers 503 with a JSON
// error at once (the client fails fast: no offline queue, bounded commands),
// readiness says why, and everything comes back by itself when Redis does.
const FAIL_FAST_MS = 1_000;
const RECOVERY_MS = 10_000;
const SLOW = { timeout: 30_000 };

const [alice] = SEED_USERS;

describe('when Redis goes down and comes back', { timeout: 90_000 }, () => {
  let redis: PrivateRedis;
  let quotes: FastifyInstance;
  let users: FastifyInstance;
  let search: FastifyInstance;
  let token: string;
  const prefix = 'outage:';

  before(async () => {
    redis = await startPrivateRedis();
    [quotes, users, search] = await Promise.all([
      quotesApp({ prefix, redisUrl: redis.url }),
      usersApp({ prefix, redisUrl: redis.url }),
      searchApp({ prefix, redisUrl: redis.url }),
    ]);
    token = await login(users, alice.name, alice.password);
  });

  after(async () => {
    await Promise.all([quotes?.close(), users?.close(), search?.close()]);
    await redis?.stop();
  });

  /** The data routes of the three services, each with the app that serves it. */
  const dataRoutes = (): Array<{ app: FastifyInstance; request: InjectOptions }> => [
    { app: quotes, request: { url: '/quotes' } },
    { app: quotes, request: { url: '/quotes/1' } },
    { app: users, request: { method: 'POST', url: '/users/login', payload: { name: alice.name, password: alice.password } } },
    { app: search, request: { url: '/search?keyword=a', headers: auth(token) } },
  ];
  const name = (request: InjectOptions) => `${request.method ?? 'GET'} ${request.url as string}`;

  test('every data route answers 200 while Redis is up', SLOW, async () => {
    for (const { app, request } of dataRoutes()) {
      assert.equal((await app.inject(request)).statusCode, 200, name(request));
    }
  });

  test('every data route answers 503 with a JSON error in under 1000 ms once Redis is down', SLOW, async () => {
    await redis.stop();
    for (const { app, request } of dataRoutes()) {
      const started = performance.now();
      const res = await app.inject(request);
      const elapsed = performance.now() - started;
      assert.equal(res.statusCode, 503, `${name(request)} → ${res.statusCode} ${res.body}`);
      assert.deepEqual(res.json(), { error: 'Service temporairement indisponible (base de données injoignable)' });
      assert.equal(res.headers['retry-after'], '1');
      assert.ok(elapsed < FAIL_FAST_MS, `${name(request)} took ${Math.round(elapsed)} ms`);
    }
  });

  test('a write answers 503 too, and an authenticated route does not mistake the outage for a bad token', SLOW, async () => {
    const post = await quotes.inject({
      method: 'POST',
      url: '/quotes',
      headers: auth(token),
      payload: { user_id: alice.id, quote: 'x' },
    });
    assert.equal(post.statusCode, 503);
    const me = await users.inject({ url: '/users/me', headers: auth(token) });
    assert.equal(me.statusCode, 503);
    // An admin key needs no Redis lookup to authenticate, but the data does.
    const del = await quotes.inject({ method: 'DELETE', url: '/quotes/1', headers: ADMIN });
    assert.equal(del.statusCode, 503);
  });

  test('GET /<svc>/health answers 503 unhealthy with the failing redis check', SLOW, async () => {
    for (const [app, path] of [
      [quotes, '/quotes/health'],
      [users, '/users/health'],
      [search, '/search/health'],
    ] as const) {
      const started = performance.now();
      const res = await app.inject({ url: path });
      assert.ok(performance.now() - started < FAIL_FAST_MS, `${path} is slow`);
      assert.equal(res.statusCode, 503, path);
      const body = res.json() as { message: string; checks: Array<{ name: string; status: string; error?: string }> };
      assert.equal(body.message, 'unhealthy');
      assert.ok(Array.isArray(body.checks));
      const redisCheck = body.checks.find((c) => c.name === 'redis');
      assert.equal(redisCheck?.status, 'fail', JSON.stringify(body.checks));
      assert.equal(typeof redisCheck?.error, 'string');
    }
  });

  test('the processes stay alive during the outage', async () => {
    for (const [app, path] of [
      [quotes, '/quotes/health/live'],
      [users, '/users/health/live'],
      [search, '/search/health/live'],
    ] as const) {
      assert.equal((await app.inject({ url: path })).statusCode, 200, path);
    }
  });

  test('once Redis is back (empty), the services are healthy again within 10 s, with the seed data reloaded', SLOW, async () => {
    await redis.restart();
    await eventually(
      async () => {
        const statuses = await Promise.all([
          quotes.inject({ url: '/quotes/health' }),
          users.inject({ url: '/users/health' }),
          search.inject({ url: '/search/health' }),
        ]);
        const total = (await quotes.inject({ url: '/quotes?limit=1' })).headers['x-total-count'];
        return statuses.every((res) => res.body === '{"message":"healthy"}') && total === String(SEED_QUOTE_COUNT);
      },
      RECOVERY_MS,
      'the services did not recover',
    );

    assert.equal((await quotes.inject({ url: '/quotes' })).statusCode, 200);
    assert.equal((await quotes.inject({ url: '/quotes/1' })).statusCode, 200);
    // Sessions lived in the Redis that was lost: the old token is refused, a new login works.
    const stale = await search.inject({ url: '/search?keyword=a', headers: auth(token) });
    assert.equal(stale.statusCode, 401);
    assert.deepEqual(stale.json(), { error: 'Jeton invalide ou expiré' });
    const fresh = await login(users, alice.name, alice.password);
    const found = await search.inject({ url: '/search?keyword=aerolithe', headers: auth(fresh) });
    assert.equal(found.statusCode, 200);
    assert.ok((found.json() as string[]).includes('Aérolithe'));
  });
});
