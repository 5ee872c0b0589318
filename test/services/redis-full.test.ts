import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { metricsAppOf } from '../../src/lib/http/index.ts';
import { freePort } from '../../src/lib/net/index.ts';
import {
  isRedisFull,
  isRedisUnavailable,
  type MemoryReading,
  observeCommands,
  parseMemoryReading,
  RedisMemoryState,
} from '../../src/lib/redis/index.ts';
import { buildApp as buildOpsApp } from '../../src/services/ops/app.ts';
import { loadConfig as loadOpsConfig } from '../../src/services/ops/config.ts';
import { ADMIN, auth, login, quotesApp, SEED_QUOTE_COUNT, SEED_USERS, searchApp, testEnv, usersApp } from '../helpers/apps.ts';
import { find, parseMetrics, value } from '../helpers/metrics.ts';
import { connectRedis, uniquePrefix } from '../helpers/redis.ts';

// The contract: at maxmemory (noeviction) Redis refuses writes but still answers reads. Writes then answer 503
// with Retry-After and a French error naming the cause, a logout still revokes its token, the quote list and the
// search are served, readiness stays 200 and says it is degraded, and the metrics show it. Freeing memory brings
// everything back.
const FULL = { error: 'Service temporairement indisponible (base de données pleine)' };
const MAXMEMORY = 4 * 1024 * 1024;

const [alice, bob] = SEED_USERS;

interface PrivateFullRedis {
  readonly url: string;
  stop(): Promise<void>;
}

/** A throw-away `redis-server` with a small maxmemory and no eviction, on a free port, keeping nothing on disk. */
async function startSmallRedis(): Promise<PrivateFullRedis> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'haddock-full-redis-'));
  const child: ChildProcess = spawn(
    'redis-server',
    [
      ...['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no'],
      ...['--maxmemory', String(MAXMEMORY), '--maxmemory-policy', 'noeviction'],
    ],
    { stdio: 'ignore' },
  );
  const kill = () => child.kill('SIGKILL');
  process.once('exit', kill);
  child.once('exit', () => {
    process.removeListener('exit', kill);
    rmSync(dir, { recursive: true, force: true });
  });
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        err.code === 'ENOENT'
          ? new Error('redis-server is not installed (or not on PATH): apt-get install -y redis-server', { cause: err })
          : err,
      ),
    );
  });
  const url = `redis://127.0.0.1:${port}`;
  const deadline = Date.now() + 5_000;
  for (;;) {
    const probe = connectRedis(url);
    probe.on('error', () => {});
    try {
      await probe.connect();
      if ((await probe.ping()) === 'PONG') break;
    } catch (err) {
      if (child.exitCode !== null || Date.now() > deadline)
        throw new Error(`redis-server did not start at ${url}`, { cause: err });
    } finally {
      probe.disconnect();
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return {
    url,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      child.kill('SIGKILL');
      await exited;
    },
  };
}

function assertFull(res: LightMyRequestResponse, what: string): void {
  assert.equal(res.statusCode, 503, `${what} → ${res.statusCode} ${res.body}`);
  assert.deepEqual(res.json(), FULL, what);
  assert.equal(res.headers['retry-after'], '30', `${what}: Retry-After`);
}

async function samples(app: FastifyInstance) {
  const res = await metricsAppOf(app).inject({ url: '/metrics' });
  assert.equal(res.statusCode, 200, res.body);
  return parseMetrics(res.body);
}

interface Ready {
  message: string;
  degraded: boolean;
  checks: Array<{ name: string; status: string; degraded?: string }>;
}

describe('when Redis is full (maxmemory, noeviction)', { timeout: 60_000 }, () => {
  const prefix = uniquePrefix('redis-full');
  let redis: PrivateFullRedis;
  let quotes: FastifyInstance;
  let users: FastifyInstance;
  let search: FastifyInstance;
  let ops: FastifyInstance;
  let aliceToken: string;
  let bobToken: string;
  const filler = () => {
    const client = connectRedis(redis.url);
    client.on('error', () => {});
    return client;
  };
  const services = () =>
    [
      ['quotes', quotes],
      ['users', users],
      ['search', search],
      ['ops', ops],
    ] as const;

  before(async () => {
    redis = await startSmallRedis();
    const setup = { prefix, redisUrl: redis.url };
    [quotes, users, search] = await Promise.all([quotesApp(setup), usersApp(setup), searchApp(setup)]);
    ops = await buildOpsApp(loadOpsConfig(testEnv({ ...setup, env: { BACKUP_SCHEDULE_ENABLED: 'false' } })), { logger: false });
    await ops.ready();
    aliceToken = await login(users, alice.name, alice.password);
    bobToken = await login(users, bob.name, bob.password);
    // No GET /quotes nor search yet: their first snapshot is loaded while Redis is full.
  });

  after(async () => {
    await Promise.all([quotes?.close(), users?.close(), search?.close(), ops?.close()]);
    await redis?.stop();
  });

  test('filled until Redis refuses a write', async () => {
    const client = filler();
    try {
      await client.connect();
      const chunk = 'x'.repeat(64 * 1024);
      let refused: Error | undefined;
      for (let i = 0; i < 200 && refused === undefined; i++) {
        await client.set(`${prefix}fill:${i}`, chunk).catch((err: Error) => {
          refused = err;
        });
      }
      assert.match(refused?.message ?? 'never refused', /^OOM command not allowed/);
      // Each client's buffers move used_memory by some KB, so a small write may still pass right at the limit:
      // lower the limit under what is used, and every write is refused for the rest of this part.
      const used = Number(/^used_memory:(\d+)/m.exec(await client.info('memory'))?.[1]);
      await client.config('SET', 'maxmemory', String(used - 256 * 1024));
      await assert.rejects(client.set(`${prefix}fill:small`, 'x'), /^ReplyError: OOM/);
    } finally {
      client.disconnect();
    }
  });

  test('writes answer 503 with Retry-After and the French cause: quote, user, login, incident', async () => {
    assertFull(
      await quotes.inject({
        method: 'POST',
        url: '/quotes',
        headers: auth(aliceToken),
        payload: { user_id: alice.id, quote: 'Mille millions de mille sabords' },
      }),
      'POST /quotes',
    );
    assertFull(
      await users.inject({
        method: 'POST',
        url: '/users',
        headers: ADMIN,
        payload: { id: '90', name: 'Tournesol', password: 'pendule-1234' },
      }),
      'POST /users',
    );
    assertFull(
      await users.inject({ method: 'POST', url: '/users/login', payload: { name: alice.name, password: alice.password } }),
      'POST /users/login',
    );
    assertFull(
      await ops.inject({
        method: 'POST',
        url: '/ops/incidents',
        headers: ADMIN,
        payload: { title: 'Redis plein', service: 'quotes', severity: 'critical' },
      }),
      'POST /ops/incidents',
    );
  });

  test('a MULTI refused at maxmemory (EXECABORT) is classified full, not an outage, and counts as one refusal', async () => {
    const client = filler();
    const refused: string[] = [];
    observeCommands(client, (command, _seconds, _failed, refusedForMemory) => {
      if (refusedForMemory) refused.push(command);
    });
    try {
      await client.connect();
      const err = await client
        .multi()
        .set(`${prefix}tx`, 'x')
        .sadd(`${prefix}tx-set`, 'x')
        .exec()
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      assert.ok(err instanceof Error, 'the transaction was refused');
      assert.match(err.message, /^EXECABORT/);
      assert.equal(isRedisFull(err), true);
      assert.equal(isRedisUnavailable(err), false);
      assert.deepEqual(refused, ['exec'], 'one refusal, told on the EXEC');
    } finally {
      client.disconnect();
    }
  });

  test('a logout still revokes its token', async () => {
    const out = await users.inject({ method: 'POST', url: '/users/logout', headers: auth(aliceToken) });
    assert.equal(out.statusCode, 200, out.body);
    const me = await users.inject({ url: '/users/me', headers: auth(aliceToken) });
    assert.equal(me.statusCode, 401, `the token still works after the logout: ${me.body}`);
  });

  test('reads are served: the quote list (loaded now), one quote, the search', async () => {
    const list = await quotes.inject({ url: '/quotes' });
    assert.equal(list.statusCode, 200, list.body);
    assert.equal((list.json() as unknown[]).length, SEED_QUOTE_COUNT);
    const one = await quotes.inject({ url: '/quotes/1' });
    assert.equal(one.statusCode, 200, one.body);
    assert.equal((one.json() as { id: number }).id, 1);
    const found = await search.inject({ url: '/search?keyword=tonnerre%20de%20brest', headers: auth(bobToken) });
    assert.equal(found.statusCode, 200, found.body);
    assert.ok((found.json() as string[]).includes('Bachi-bouzouk de tonnerre de Brest'), found.body);
  });

  test('readiness stays 200 and says Redis is full; /health keeps its exact body', async () => {
    for (const [name, app] of services()) {
      const ready = await app.inject({ url: `/${name}/health/ready` });
      assert.equal(ready.statusCode, 200, `${name}: ${ready.body}`);
      const body = ready.json() as Ready;
      assert.equal(body.message, 'healthy', name);
      assert.equal(body.degraded, true, `${name}: ${ready.body}`);
      const check = body.checks.find((c) => c.name === 'redis');
      assert.equal(check?.status, 'pass', name);
      assert.match(check?.degraded ?? '', /memory full/, `${name}: ${ready.body}`);
      assert.equal((await app.inject({ url: `/${name}/health` })).body, '{"message":"healthy"}', name);
    }
  });

  test('the metrics show it: memory_full 1, each refused write counted once', async () => {
    const expected = { quotes: 1, users: 2, search: 0, ops: 1 };
    for (const [name, app] of services()) {
      const metrics = await samples(app);
      assert.equal(value(metrics, 'haddock_redis_memory_full'), 1, name);
      assert.equal(value(metrics, 'haddock_redis_write_refusals_total', { reason: 'oom' }), expected[name], name);
    }
  });

  test('once memory is freed, writes succeed again and the degraded detail clears', async () => {
    const client = filler();
    try {
      await client.connect();
      // DEL frees memory: Redis runs it even when full.
      const keys = await client.keys(`${prefix}fill:*`);
      assert.ok(keys.length > 0);
      await client.del(...keys);
    } finally {
      client.disconnect();
    }
    for (const [name, app] of services()) {
      const body = (await app.inject({ url: `/${name}/health/ready` })).json() as Ready;
      assert.equal(body.degraded, false, `${name}: ${JSON.stringify(body)}`);
      assert.equal(body.checks.find((c) => c.name === 'redis')?.degraded, undefined, name);
      assert.equal(value(await samples(app), 'haddock_redis_memory_full'), 0, name);
    }
    const token = await login(users, alice.name, alice.password);
    const created = await quotes.inject({
      method: 'POST',
      url: '/quotes',
      headers: auth(token),
      payload: { user_id: alice.id, quote: 'Mille millions de mille sabords' },
    });
    assert.equal(created.statusCode, 201, created.body);
    const user = await users.inject({
      method: 'POST',
      url: '/users',
      headers: ADMIN,
      payload: { id: '90', name: 'Tournesol', password: 'pendule-1234' },
    });
    assert.equal(user.statusCode, 201, user.body);
    const incident = await ops.inject({
      method: 'POST',
      url: '/ops/incidents',
      headers: ADMIN,
      payload: { title: 'Redis plein', service: 'quotes', severity: 'critical' },
    });
    assert.equal(incident.statusCode, 201, incident.body);
    const list = (await quotes.inject({ url: '/quotes' })).json() as Array<{ quote: string }>;
    assert.equal(list.length, SEED_QUOTE_COUNT + 1, 'the list sees the new quote');
    assert.deepEqual(find(await samples(quotes), 'haddock_redis_memory_full')[0]?.value, 0);
  });
});

const OOM = "OOM command not allowed when used memory > 'maxmemory'.";
const aborted = (...previous: Error[]) =>
  Object.assign(new Error('EXECABORT Transaction discarded because of previous errors.'), { previousErrors: previous });
const fullCases: ReadonlyArray<[string, unknown, boolean]> = [
  ['the OOM answer', new Error(OOM), true],
  ['a script whose write met it', new Error(`ERR Error running script (call to f_1): @user_script:3: -${OOM}`), true],
  ['EXECABORT after a queued OOM', aborted(new Error(OOM)), true],
  [
    'EXECABORT after a READONLY (an outage, not a full Redis)',
    aborted(new Error("READONLY You can't write against a read only replica.")),
    false,
  ],
  ['a closed connection', new Error('Connection is closed.'), false],
  ['not an error', OOM, false],
];
for (const [what, err, expected] of fullCases) {
  test(`isRedisFull: ${what} → ${expected}`, () => {
    assert.equal(isRedisFull(err), expected);
  });
}

test('parseMemoryReading reads used, max, the uncounted part and the policy', () => {
  const info =
    '# Memory\r\nused_memory:4200000\r\nmaxmemory:4194304\r\nmaxmemory_policy:noeviction\r\nmem_not_counted_for_evict:1000\r\n';
  assert.deepEqual(parseMemoryReading(info), { used: 4_200_000, max: 4_194_304, notCounted: 1_000, policy: 'noeviction' });
  assert.equal(parseMemoryReading('# Memory\r\n'), undefined);
});

test('RedisMemoryState: full from a refusal or a reading over the limit, room again under 99 % (or evicting)', () => {
  const reading = (used: number, policy = 'noeviction', max = 1_000_000): MemoryReading => ({ used, max, notCounted: 0, policy });
  const state = new RedisMemoryState();
  assert.equal(state.observe(reading(999_999)), false, 'at the limit but never refused: not full');
  state.refused();
  assert.equal(state.full, true);
  assert.equal(state.observe(reading(995_000)), true, 'a refused write, and still within 1 % of the limit');
  assert.equal(state.observe(reading(980_000)), false, 'room again');
  assert.equal(state.observe(reading(1_000_001)), true, 'over the limit');
  assert.equal(state.observe(reading(999_000, 'allkeys-lru')), false, 'an evicting Redis within its limit has room');
  state.refused();
  assert.equal(state.observe(reading(5_000_000, 'noeviction', 0)), false, 'no limit: never full');
});
