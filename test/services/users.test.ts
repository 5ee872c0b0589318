import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, type TestContext, test } from 'node:test';
import type { InjectOptions } from 'fastify';
import type { Redis } from 'ioredis';
import { TokenStore, tokenDigest } from '../../src/lib/auth/index.ts';
import { ConfigError } from '../../src/lib/config/index.ts';
import { loadConfig } from '../../src/services/users/config.ts';
import { ADMIN, ADMIN_KEY, auth, login, quotesApp, SEED_USERS, scoped, testEnv, usersApp } from '../helpers/apps.ts';
import {
  cleanPrefix,
  connectRedis,
  dumpPrefix,
  requireRedis,
  scanKeys,
  startPrivateRedis,
  testRedisUrl,
  uniquePrefix,
} from '../helpers/redis.ts';

const url = testRedisUrl();
const filePrefix = uniquePrefix('users');
let redis: Redis;
let count = 0;
/** Each test gets its own database under the file's prefix, so tests never see each other's writes. */
const freshPrefix = () => `${filePrefix}${++count}:`;

before(async () => {
  await requireRedis(url);
  redis = connectRedis(url);
  await redis.connect();
});

after(async () => {
  await cleanPrefix(url, filePrefix);
  redis?.disconnect();
});

const [alice, bob] = SEED_USERS;
const SLOW = { timeout: 30_000 };

async function setup(t: TestContext, env = {}) {
  const prefix = freshPrefix();
  const app = await scoped(t, usersApp({ prefix, env }));
  return { prefix, app };
}

function post(url: string, payload: unknown, headers: Record<string, string> = {}): InjectOptions {
  return { method: 'POST', url, payload: payload as InjectOptions['payload'], headers };
}

// ---------------------------------------------------------------- GET /

test('GET / → the original service banner', async (t) => {
  const { app } = await setup(t);
  const res = await app.inject({ url: '/' });
  assert.equal(res.statusCode, 200);
  assert.deepEqual(res.json(), { message: 'User Service Online' });
});

// ---------------------------------------------------------------- login

test('POST /users/login → 200 with a token and the user id, for every seed user', SLOW, async (t) => {
  const { app } = await setup(t);
  for (const user of SEED_USERS) {
    const res = await app.inject(post('/users/login', { name: user.name, password: user.password }));
    assert.equal(res.statusCode, 200, res.body);
    const body = res.json() as { token: string; user_id: string };
    assert.deepEqual(Object.keys(body).sort(), ['token', 'user_id']);
    assert.equal(body.user_id, user.id);
  }
});

test('POST /users/login → a token of at least 128 random bits, base64url', async (t) => {
  const { app } = await setup(t);
  const tokens = await Promise.all([login(app, alice.name, alice.password), login(app, alice.name, alice.password)]);
  for (const token of tokens) {
    assert.match(token, /^[A-Za-z0-9_-]+$/);
    assert.ok(token.length >= 22, `token of ${token.length} characters`);
  }
  assert.notEqual(tokens[0], tokens[1]);
});

test('POST /users/login → 401 with the exact body for a wrong password', async (t) => {
  const { app } = await setup(t);
  const res = await app.inject(post('/users/login', { name: alice.name, password: 'inwonderland' }));
  assert.equal(res.statusCode, 401);
  assert.deepEqual(res.json(), { error: "Nom d'utilisateur ou mot de passe incorrect" });
});

test('POST /users/login → 401 with the same body for an unknown user', async (t) => {
  const { app } = await setup(t);
  const res = await app.inject(post('/users/login', { name: 'Tintin', password: 'inWonderland' }));
  assert.equal(res.statusCode, 401);
  assert.deepEqual(res.json(), { error: "Nom d'utilisateur ou mot de passe incorrect" });
});

test("POST /users/login → 401 for a user's password given with another user's name", async (t) => {
  const { app } = await setup(t);
  const res = await app.inject(post('/users/login', { name: bob.name, password: alice.password }));
  assert.equal(res.statusCode, 401);
});

const missingLogin: ReadonlyArray<readonly [string, unknown]> = [
  ['no field', {}],
  ['no password', { name: 'Alice' }],
  ['no name', { password: 'inWonderland' }],
  ['an empty name', { name: '', password: 'inWonderland' }],
  ['a blank name', { name: '   ', password: 'inWonderland' }],
  ['an empty password', { name: 'Alice', password: '' }],
];

for (const [what, payload] of missingLogin) {
  test(`POST /users/login → 400 with the exact body for ${what}`, async (t) => {
    const { app } = await setup(t);
    const res = await app.inject(post('/users/login', payload));
    assert.equal(res.statusCode, 400);
    assert.deepEqual(res.json(), { error: 'Nom et mot de passe sont requis' });
  });
}

test('POST /users/login → 400 with the exact body when there is no body at all', async (t) => {
  const { app } = await setup(t);
  const res = await app.inject({ method: 'POST', url: '/users/login' });
  assert.equal(res.statusCode, 400);
  assert.deepEqual(res.json(), { error: 'Nom et mot de passe sont requis' });
});

test('POST /users/login → 400 JSON error for a name that is not a string', async (t) => {
  const { app } = await setup(t);
  const res = await app.inject(post('/users/login', { name: [], password: 'inWonderland' }));
  assert.equal(res.statusCode, 400);
  assert.deepEqual(res.json(), { error: "'name' doit être de type string" });
});

test('POST /users/login → the token works raw (as the original clients send it) and as Bearer', async (t) => {
  const { app } = await setup(t);
  const token = await login(app, alice.name, alice.password);
  for (const authorization of [token, `Bearer ${token}`, `bearer   ${token}`]) {
    const res = await app.inject({ url: '/users/me', headers: { authorization } });
    assert.equal(res.statusCode, 200, authorization);
    assert.equal((res.json() as { id: string }).id, alice.id);
  }
});

// ---------------------------------------------------------------- tokens

test('login stores only the SHA-256 digest of the token, never the token', async (t) => {
  const { app, prefix } = await setup(t);
  const token = await login(app, alice.name, alice.password);
  assert.equal(await redis.get(`${prefix}token:${tokenDigest(token)}`), alice.id);
  const dump = await dumpPrefix(redis, prefix);
  for (const [key, value] of dump) {
    assert.ok(!key.includes(token), `the token is in the key ${key}`);
    assert.ok(!value.includes(token), `the token is in the value of ${key}`);
  }
});

test('login sets an expiry on the token, within TOKEN_TTL_SECONDS', async (t) => {
  const { app, prefix } = await setup(t, { TOKEN_TTL_SECONDS: '60' });
  const token = await login(app, alice.name, alice.password);
  const ttl = await redis.ttl(`${prefix}token:${tokenDigest(token)}`);
  assert.ok(ttl >= 1 && ttl <= 60, `TTL ${ttl}`);
  const setTtl = await redis.ttl(`${prefix}user-tokens:${alice.id}`);
  assert.ok(setTtl >= 1 && setTtl <= 60, `TTL of the user's token set ${setTtl}`);
});

test('login gives tokens 24 hours of life by default', async (t) => {
  const { app, prefix } = await setup(t);
  const token = await login(app, alice.name, alice.password);
  const ttl = await redis.ttl(`${prefix}token:${tokenDigest(token)}`);
  assert.ok(ttl > 86_400 - 60 && ttl <= 86_400, `TTL ${ttl}`);
});

test('GET /users/me → 401 with the exact body once the token expired', async (t) => {
  const { app, prefix } = await setup(t);
  const token = await login(app, alice.name, alice.password);
  assert.equal((await app.inject({ url: '/users/me', headers: auth(token) })).statusCode, 200);
  await redis.pexpire(`${prefix}token:${tokenDigest(token)}`, 1);
  await new Promise((resolve) => setTimeout(resolve, 20));
  const res = await app.inject({ url: '/users/me', headers: auth(token) });
  assert.equal(res.statusCode, 401);
  assert.deepEqual(res.json(), { error: 'Jeton invalide ou expiré' });
});

test('GET /users/me → 401 with the exact body for an unknown token', async (t) => {
  const { app } = await setup(t);
  const res = await app.inject({ url: '/users/me', headers: auth('A'.repeat(43)) });
  assert.equal(res.statusCode, 401);
  assert.deepEqual(res.json(), { error: 'Jeton invalide ou expiré' });
});

test('GET /users/me → 401 with the exact body without a token', async (t) => {
  const { app } = await setup(t);
  for (const headers of [{}, { authorization: '' }, { authorization: 'Bearer ' }]) {
    const res = await app.inject({ url: '/users/me', headers });
    assert.equal(res.statusCode, 401, JSON.stringify(headers));
    assert.deepEqual(res.json(), { error: 'Authentification requise' });
  }
});

test('GET /users/me → the logged-in user, without secrets', async (t) => {
  const { app } = await setup(t);
  const res = await app.inject({ url: '/users/me', headers: auth(await login(app, bob.name, bob.password)) });
  assert.equal(res.statusCode, 200);
  const body = res.json() as Record<string, unknown>;
  assert.deepEqual(Object.keys(body).sort(), ['created_at', 'id', 'name']);
  assert.equal(body.id, bob.id);
  assert.equal(body.name, bob.name);
});

test('GET /users/me → 400 for an admin key, which is no user', async (t) => {
  const { app } = await setup(t);
  const res = await app.inject({ url: '/users/me', headers: ADMIN });
  assert.equal(res.statusCode, 400);
  assert.deepEqual(res.json(), { error: "Une clé administrateur n'est pas un utilisateur" });
});

test('POST /users/logout → 200 and the token is revoked', async (t) => {
  const { app, prefix } = await setup(t);
  const token = await login(app, alice.name, alice.password);
  const other = await login(app, alice.name, alice.password);
  const res = await app.inject({ method: 'POST', url: '/users/logout', headers: auth(token) });
  assert.equal(res.statusCode, 200);
  assert.deepEqual(res.json(), { message: 'Déconnexion réussie' });
  assert.equal(await redis.exists(`${prefix}token:${tokenDigest(token)}`), 0);
  const again = await app.inject({ url: '/users/me', headers: auth(token) });
  assert.equal(again.statusCode, 401);
  assert.deepEqual(again.json(), { error: 'Jeton invalide ou expiré' });
  // Only the token sent is revoked: the user's other session lives on.
  assert.equal((await app.inject({ url: '/users/me', headers: auth(other) })).statusCode, 200);
});

test('POST /users/logout → 401 without a token', async (t) => {
  const { app } = await setup(t);
  const res = await app.inject({ method: 'POST', url: '/users/logout' });
  assert.equal(res.statusCode, 401);
  assert.deepEqual(res.json(), { error: 'Authentification requise' });
});

test('POST /users/logout → 400 for an admin key', async (t) => {
  const { app } = await setup(t);
  const res = await app.inject({ method: 'POST', url: '/users/logout', headers: ADMIN });
  assert.equal(res.statusCode, 400);
  assert.deepEqual(res.json(), { error: 'Une clé administrateur ne se déconnecte pas' });
});

test('DELETE /users/:id revokes every token of that user and only theirs', async (t) => {
  const { app, prefix } = await setup(t);
  const tokens = [await login(app, alice.name, alice.password), await login(app, alice.name, alice.password)];
  const bobToken = await login(app, bob.name, bob.password);
  const res = await app.inject({ method: 'DELETE', url: `/users/${alice.id}`, headers: ADMIN });
  assert.equal(res.statusCode, 200);
  for (const token of tokens) {
    assert.equal(await redis.exists(`${prefix}token:${tokenDigest(token)}`), 0);
    assert.equal((await app.inject({ url: '/users/me', headers: auth(token) })).statusCode, 401);
  }
  assert.equal(await redis.exists(`${prefix}user-tokens:${alice.id}`), 0);
  assert.equal((await app.inject({ url: '/users/me', headers: auth(bobToken) })).statusCode, 200);
});

test('a login racing the deletion of its user never leaves a usable token (many concurrent pairs)', SLOW, async (t) => {
  const { app, prefix } = await setup(t);
  const quotes = await scoped(t, quotesApp({ prefix }));
  const password = 'race-password-1';
  const ids = Array.from({ length: 24 }, (_, i) => `racer${i}`);
  for (const id of ids) {
    const res = await app.inject(post('/users', { id, name: `Racer ${id}`, password }, ADMIN));
    assert.equal(res.statusCode, 201, res.body);
  }
  // Each deletion starts 0 to ~70 ms after its login, across the login's password check (scrypt, tens of ms).
  const outcomes = await Promise.all(
    ids.map(async (id, i) => {
      const loginRes = app.inject(post('/users/login', { name: `Racer ${id}`, password }));
      await new Promise((resolve) => setTimeout(resolve, (i % 8) * 10));
      const deleteRes = await app.inject({ method: 'DELETE', url: `/users/${id}`, headers: ADMIN });
      assert.equal(deleteRes.statusCode, 200, deleteRes.body);
      return { id, res: await loginRes };
    }),
  );
  let issued = 0;
  for (const { id, res } of outcomes) {
    if (res.statusCode === 401) {
      assert.deepEqual(res.json(), { error: "Nom d'utilisateur ou mot de passe incorrect" });
      continue;
    }
    assert.equal(res.statusCode, 200, res.body);
    issued++;
    const { token } = res.json() as { token: string };
    assert.equal(
      (await app.inject({ url: '/users/me', headers: auth(token) })).statusCode,
      401,
      `token of ${id} still answers /users/me`,
    );
    assert.equal((await app.inject({ url: '/users', headers: auth(token) })).statusCode, 401, `token of ${id} still lists users`);
    const quote = await quotes.inject(post('/quotes', { user_id: id, quote: 'Mille sabords !' }, auth(token)));
    assert.equal(quote.statusCode, 401, `token of ${id} still creates quotes: ${quote.body}`);
  }
  // Whatever the interleaving, no session of a deleted user is left in Redis.
  assert.deepEqual(await scanKeys(redis, `${prefix}token:*`), [], `${issued} logins answered 200`);
  assert.deepEqual(await scanKeys(redis, `${prefix}user-tokens:racer*`), []);
});

test('a token whose account vanished is refused by every service, and no new one is issued for it', async (t) => {
  const { app, prefix } = await setup(t);
  const quotes = await scoped(t, quotesApp({ prefix }));
  const token = await login(app, alice.name, alice.password);
  // The account disappears without going through DELETE /users/:id (a restore, an operator's HDEL).
  await redis.hdel(`${prefix}users`, alice.id);
  assert.equal((await app.inject({ url: '/users/me', headers: auth(token) })).statusCode, 401);
  assert.equal((await quotes.inject(post('/quotes', { user_id: alice.id, quote: 'Tonnerre !' }, auth(token)))).statusCode, 401);
  const tokens = new TokenStore(redis, prefix, 60);
  assert.equal(await tokens.issue(alice.id), null);
  assert.equal(await tokens.issue('nobody'), null);
  assert.equal(await redis.exists(`${prefix}user-tokens:nobody`), 0);
});

test("a deleted user's id is never given again, so nobody inherits their quotes", async (t) => {
  const { app, prefix } = await setup(t);
  const quotes = await scoped(t, quotesApp({ prefix }));
  assert.equal(
    (await app.inject(post('/users', { id: 'r1', name: 'Rastapopoulos', password: 'first-owner' }, ADMIN))).statusCode,
    201,
  );
  const owner = await login(app, 'Rastapopoulos', 'first-owner');
  const created = await quotes.inject(post('/quotes', { user_id: 'r1', quote: 'Bachi-bouzouk !' }, auth(owner)));
  assert.equal(created.statusCode, 201, created.body);
  assert.equal((await app.inject({ method: 'DELETE', url: '/users/r1', headers: ADMIN })).statusCode, 200);
  const again = await app.inject(post('/users', { id: 'r1', name: 'Allan', password: 'second-owner' }, ADMIN));
  assert.equal(again.statusCode, 409);
  assert.deepEqual(again.json(), { error: 'Cet ID est déjà utilisé' });
  // Numeric and string forms of an id are one id: a retired numeric id stays taken either way.
  assert.equal((await app.inject({ method: 'DELETE', url: '/users/2', headers: ADMIN })).statusCode, 200);
  assert.equal((await app.inject(post('/users', { id: 2, name: 'Tournesol', password: 'second-owner' }, ADMIN))).statusCode, 409);
  assert.equal(await redis.sismember(`${prefix}users:retired`, 'r1'), 1);
});

// ---------------------------------------------------------------- passwords

test('the seed passwords are stored only as scrypt hashes', async (t) => {
  const { prefix } = await setup(t);
  const dump = await dumpPrefix(redis, prefix);
  assert.ok(dump.size > 0, 'nothing was seeded');
  for (const [key, value] of dump) {
    for (const user of SEED_USERS) assert.ok(!value.includes(user.password), `${user.name}'s password is in ${key}`);
  }
  const stored = await redis.hgetall(`${prefix}users`);
  assert.deepEqual(Object.keys(stored).sort(), ['0', '1', '2']);
  for (const json of Object.values(stored)) {
    const user = JSON.parse(json) as { password_hash: string; password?: string };
    assert.ok(user.password_hash.startsWith('scrypt$'), user.password_hash);
    assert.equal(user.password, undefined);
  }
});

test('POST /users stores the new password only as a scrypt hash', async (t) => {
  const { app, prefix } = await setup(t);
  const password = 'Tonnerre-de-Brest-42';
  const res = await app.inject(post('/users', { id: 'haddock', name: 'Haddock', password }, ADMIN));
  assert.equal(res.statusCode, 201);
  const json = await redis.hget(`${prefix}users`, 'haddock');
  assert.ok(json !== null);
  assert.ok((JSON.parse(json) as { password_hash: string }).password_hash.startsWith('scrypt$'));
  for (const [key, value] of await dumpPrefix(redis, prefix)) assert.ok(!value.includes(password), `password in ${key}`);
});

test('no users route answers a password, a password hash or a stored digest', SLOW, async (t) => {
  const { app } = await setup(t);
  const token = await login(app, alice.name, alice.password);
  const bodies: string[] = [];
  const call = async (options: InjectOptions) => {
    const res = await app.inject(options);
    bodies.push(
      `${options.method ?? 'GET'} ${options.url as string} → ${res.statusCode} ${JSON.stringify(res.headers)} ${res.body}`,
    );
  };
  await call({ url: '/' });
  await call(post('/users/login', { name: bob.name, password: bob.password }));
  await call(post('/users/login', { name: bob.name, password: 'wrong-password' }));
  await call({ url: '/users', headers: auth(token) });
  await call({ url: '/users/me', headers: auth(token) });
  await call({ url: '/users/all', headers: ADMIN });
  await call({ url: '/users/all', headers: auth(token) });
  await call(post('/users', { id: 'z', name: 'Zorglub', password: 'zorglonde-123' }, ADMIN));
  await call(post('/users', { id: 'z', name: 'Zorglub', password: 'zorglonde-123' }, ADMIN));
  await call({ method: 'DELETE', url: '/users/z', headers: ADMIN });
  await call({ method: 'POST', url: '/users/logout', headers: auth(token) });
  await call({ url: '/users/health' });
  await call({ url: '/apidocs/json' });
  const text = bodies.join('\n');
  assert.ok(bodies.length === 13 && text.includes('Alice'), 'the routes did not answer');
  for (const secret of [...SEED_USERS.map((u) => u.password), 'zorglonde-123', 'scrypt$', tokenDigest(token)]) {
    assert.ok(!text.includes(secret), `"${secret}" appears in a response:\n${text}`);
  }
});

test('the logs hold neither passwords nor tokens, and redact the Authorization header', SLOW, async (t) => {
  const lines: string[] = [];
  const logStream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(
        ...chunk
          .toString('utf8')
          .split('\n')
          .filter((l) => l.length > 0),
      );
      done();
    },
  });
  const prefix = freshPrefix();
  const app = await scoped(t, usersApp({ prefix, env: { LOG_LEVEL: 'DEBUG' }, options: { logger: true, logStream } }));
  const token = await login(app, alice.name, alice.password);
  await app.inject(post('/users/login', { name: alice.name, password: 'wrong-but-secret' }));
  await app.inject(post('/users/login', { name: 'Nobody', password: 'unknown-but-secret' }));
  await app.inject({ url: '/users/me', headers: { authorization: `Bearer ${token}` } });
  await app.inject(post('/users', { id: 'tt', name: 'Tournesol', password: 'calculus-secret' }, ADMIN));
  await app.inject({ method: 'POST', url: '/users/logout', headers: auth(token) });
  // What a careless handler could log: redaction must catch it, whatever the call site.
  app.log.info({ headers: { authorization: token }, password: alice.password, token }, 'probe fields');

  const text = lines.join('\n');
  assert.ok(
    lines.some((l) => l.includes('login succeeded')),
    `no login line captured:\n${text}`,
  );
  assert.ok(
    lines.some((l) => l.includes('login refused')),
    'no refused login captured',
  );
  assert.ok(
    lines.some((l) => l.includes('"url":"/users/me"')),
    'the request with the token was not logged',
  );
  for (const secret of [alice.password, 'wrong-but-secret', 'unknown-but-secret', 'calculus-secret', token, ADMIN_KEY]) {
    assert.ok(!text.includes(secret), `"${secret}" is in the logs:\n${text}`);
  }
  const probes = lines.filter((l) => l.includes('probe fields')).map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.equal(probes.length, 1);
  assert.deepEqual(probes[0]?.headers, { authorization: '[REDACTED]' });
  assert.equal(probes[0]?.password, '[REDACTED]');
  assert.equal(probes[0]?.token, '[REDACTED]');
});

// ---------------------------------------------------------------- GET /users, /users/all, /users/token

test('GET /users → every user, id and name only, ordered by id', async (t) => {
  const { app } = await setup(t);
  const res = await app.inject({ url: '/users', headers: auth(await login(app, alice.name, alice.password)) });
  assert.equal(res.statusCode, 200);
  const users = res.json() as Array<Record<string, unknown>>;
  assert.deepEqual(
    users.map(({ id, name }) => ({ id, name })),
    SEED_USERS.map(({ id, name }) => ({ id, name })),
  );
  for (const user of users) assert.deepEqual(Object.keys(user).sort(), ['created_at', 'id', 'name']);
});

test('GET /users → 401 without a token', async (t) => {
  const { app } = await setup(t);
  const res = await app.inject({ url: '/users' });
  assert.equal(res.statusCode, 401);
  assert.deepEqual(res.json(), { error: 'Authentification requise' });
});

test('GET /users/all → 401 without a credential', async (t) => {
  const { app } = await setup(t);
  const res = await app.inject({ url: '/users/all' });
  assert.equal(res.statusCode, 401);
  assert.deepEqual(res.json(), { error: 'Authentification requise' });
});

test("GET /users/all → 403 with a user's token", async (t) => {
  const { app } = await setup(t);
  const res = await app.inject({ url: '/users/all', headers: auth(await login(app, alice.name, alice.password)) });
  assert.equal(res.statusCode, 403);
  assert.deepEqual(res.json(), { error: 'Droits administrateur requis' });
});

test('GET /users/all → the users with their live session counts, no password, hash or token', async (t) => {
  const { app } = await setup(t);
  await login(app, bob.name, bob.password);
  await login(app, bob.name, bob.password);
  const res = await app.inject({ url: '/users/all', headers: ADMIN });
  assert.equal(res.statusCode, 200);
  const users = res.json() as Array<Record<string, unknown>>;
  assert.deepEqual(
    users.map(({ id, name, active_sessions }) => ({ id, name, active_sessions })),
    [
      { id: '0', name: 'Alice', active_sessions: 0 },
      { id: '1', name: 'Bob', active_sessions: 2 },
      { id: '2', name: 'Charlie', active_sessions: 0 },
    ],
  );
  for (const user of users) assert.deepEqual(Object.keys(user).sort(), ['active_sessions', 'created_at', 'id', 'name']);
});

test('GET /users/all → an expired session is not counted', async (t) => {
  const { app, prefix } = await setup(t);
  const token = await login(app, bob.name, bob.password);
  await redis.del(`${prefix}token:${tokenDigest(token)}`);
  const res = await app.inject({ url: '/users/all', headers: ADMIN });
  const bobRow = (res.json() as Array<{ id: string; active_sessions: number }>).find((u) => u.id === bob.id);
  assert.equal(bobRow?.active_sessions, 0);
});

test('GET /users/token → 404 JSON: the token dump of the original is gone', async (t) => {
  const { app } = await setup(t);
  for (const method of ['GET', 'POST'] as const) {
    const res = await app.inject({ method, url: '/users/token', headers: ADMIN });
    assert.equal(res.statusCode, 404, method);
    assert.deepEqual(res.json(), { error: 'Route non trouvée' });
  }
});

// ---------------------------------------------------------------- default admin key

test('a service without ADMIN_KEY (outside production) accepts default_key', async (t) => {
  const { app } = await setup(t, { ADMIN_KEY: undefined });
  const res = await app.inject({ url: '/users/all', headers: { authorization: 'default_key' } });
  assert.equal(res.statusCode, 200);
  assert.equal((res.json() as unknown[]).length, 3);
});

test('a service with ADMIN_KEY set refuses default_key', async (t) => {
  const { app } = await setup(t);
  const res = await app.inject({ url: '/users/all', headers: { authorization: 'default_key' } });
  assert.equal(res.statusCode, 401);
  assert.deepEqual(res.json(), { error: 'Jeton invalide ou expiré' });
});

test('loadConfig refuses NODE_ENV=production without ADMIN_KEY', () => {
  assert.throws(() => loadConfig(testEnv({ prefix: 'x:', env: { NODE_ENV: 'production', ADMIN_KEY: undefined } })), ConfigError);
});

test('a service with a JSON list of admin keys accepts each of them', async (t) => {
  const { app } = await setup(t, { ADMIN_KEY: '["first-admin-key-0123","second-admin-key-012"]' });
  for (const key of ['first-admin-key-0123', 'second-admin-key-012']) {
    assert.equal((await app.inject({ url: '/users/all', headers: { authorization: key } })).statusCode, 200, key);
  }
  assert.equal((await app.inject({ url: '/users/all', headers: ADMIN })).statusCode, 401);
});

// ---------------------------------------------------------------- POST /users

test('POST /users → 201 with the exact body, and the new user can log in', async (t) => {
  const { app } = await setup(t);
  const res = await app.inject(post('/users', { id: 'haddock', name: 'Haddock', password: 'mille-sabords' }, ADMIN));
  assert.equal(res.statusCode, 201);
  assert.deepEqual(res.json(), { message: 'Utilisateur ajouté' });
  const login = await app.inject(post('/users/login', { name: 'Haddock', password: 'mille-sabords' }));
  assert.equal(login.statusCode, 200);
  assert.equal((login.json() as { user_id: string }).user_id, 'haddock');
});

test('POST /users → a numeric id is accepted and answered as a string', async (t) => {
  const { app } = await setup(t);
  const res = await app.inject(post('/users', { id: 42, name: 'Nestor', password: 'majordome' }, ADMIN));
  assert.equal(res.statusCode, 201);
  const users = (await app.inject({ url: '/users/all', headers: ADMIN })).json() as Array<{ id: unknown }>;
  assert.deepEqual(
    users.map((u) => u.id),
    ['0', '1', '2', '42'],
  );
});

const missingUser: ReadonlyArray<readonly [string, unknown]> = [
  ['no id', { name: 'Nestor', password: 'majordome' }],
  ['no name', { id: 'nestor', password: 'majordome' }],
  ['no field', {}],
  ['an empty id', { id: '', name: 'Nestor', password: 'majordome' }],
  ['a blank id', { id: '   ', name: 'Nestor', password: 'majordome' }],
  ['an empty name', { id: 'nestor', name: '', password: 'majordome' }],
  ['a blank name', { id: 'nestor', name: ' \u00A0 ', password: 'majordome' }],
];

for (const [what, payload] of missingUser) {
  test(`POST /users → 400 with the exact body for ${what}`, async (t) => {
    const { app } = await setup(t);
    const res = await app.inject(post('/users', payload, ADMIN));
    assert.equal(res.statusCode, 400);
    assert.deepEqual(res.json(), { error: 'ID et nom sont requis' });
  });
}

test('POST /users → 400 without a password', async (t) => {
  const { app } = await setup(t);
  const res = await app.inject(post('/users', { id: 'nestor', name: 'Nestor' }, ADMIN));
  assert.equal(res.statusCode, 400);
  assert.deepEqual(res.json(), { error: 'Mot de passe requis' });
});

test('POST /users → 400 for a password shorter than 8 characters', async (t) => {
  const { app } = await setup(t);
  const res = await app.inject(post('/users', { id: 'nestor', name: 'Nestor', password: '1234567' }, ADMIN));
  assert.equal(res.statusCode, 400);
  assert.deepEqual(res.json(), { error: "'password' doit faire au moins 8 caractères" });
  assert.equal((await app.inject(post('/users', { id: 'nestor', name: 'Nestor', password: '12345678' }, ADMIN))).statusCode, 201);
});

test('POST /users → 400 JSON error for fields of the wrong type', async (t) => {
  const { app } = await setup(t);
  const cases: ReadonlyArray<readonly [unknown, string]> = [
    [{ id: 'nestor', name: [], password: 'majordome' }, "'name' doit être de type string"],
    [{ id: 'nestor', name: 'Nestor', password: 12345678 }, "'password' doit être de type string"],
    [{ id: true, name: 'Nestor', password: 'majordome' }, "'id' doit être de type string"],
  ];
  for (const [payload, error] of cases) {
    const res = await app.inject(post('/users', payload, ADMIN));
    assert.equal(res.statusCode, 400, JSON.stringify(payload));
    assert.deepEqual(res.json(), { error });
  }
});

test('POST /users → 400 for an id holding a colon, a star or a space', async (t) => {
  const { app, prefix } = await setup(t);
  for (const id of ['a:b', 'a*', 'a b', '../x']) {
    const res = await app.inject(post('/users', { id, name: `N ${id}`, password: 'majordome' }, ADMIN));
    assert.equal(res.statusCode, 400, id);
    assert.deepEqual(res.json(), { error: "'id' a un format invalide" });
  }
  assert.equal(await redis.hlen(`${prefix}users`), 3);
});

test('POST /users → 409 for an id already taken, and the original user is unchanged', async (t) => {
  const { app } = await setup(t);
  const res = await app.inject(post('/users', { id: alice.id, name: 'Mallory', password: 'take-over-123' }, ADMIN));
  assert.equal(res.statusCode, 409);
  assert.deepEqual(res.json(), { error: 'Cet ID est déjà utilisé' });
  assert.equal((await app.inject(post('/users/login', { name: 'Mallory', password: 'take-over-123' }))).statusCode, 401);
  await login(app, alice.name, alice.password);
});

test('POST /users → 409 for a name already taken, instead of overwriting the user', async (t) => {
  const { app } = await setup(t);
  const res = await app.inject(post('/users', { id: 'mallory', name: alice.name, password: 'take-over-123' }, ADMIN));
  assert.equal(res.statusCode, 409);
  assert.deepEqual(res.json(), { error: 'Ce nom est déjà utilisé' });
  assert.equal((await app.inject(post('/users/login', { name: alice.name, password: 'take-over-123' }))).statusCode, 401);
  const token = await login(app, alice.name, alice.password);
  assert.equal(((await app.inject({ url: '/users/me', headers: auth(token) })).json() as { id: string }).id, alice.id);
});

test('POST /users → 401 without a credential', async (t) => {
  const { app } = await setup(t);
  const res = await app.inject(post('/users', { id: 'nestor', name: 'Nestor', password: 'majordome' }));
  assert.equal(res.statusCode, 401);
  assert.deepEqual(res.json(), { error: 'Authentification requise' });
});

test("POST /users → 403 with a user's token", async (t) => {
  const { app } = await setup(t);
  const token = await login(app, alice.name, alice.password);
  const res = await app.inject(post('/users', { id: 'nestor', name: 'Nestor', password: 'majordome' }, auth(token)));
  assert.equal(res.statusCode, 403);
  assert.deepEqual(res.json(), { error: 'Droits administrateur requis' });
});

// ---------------------------------------------------------------- DELETE /users/:id

test('DELETE /users/:id → 200 with the exact body, then the user can no longer log in', async (t) => {
  const { app } = await setup(t);
  const res = await app.inject({ method: 'DELETE', url: `/users/${bob.id}`, headers: ADMIN });
  assert.equal(res.statusCode, 200);
  assert.deepEqual(res.json(), { message: 'Utilisateur supprimé' });
  const loginRes = await app.inject(post('/users/login', { name: bob.name, password: bob.password }));
  assert.equal(loginRes.statusCode, 401);
  // The name is free again.
  const again = await app.inject(post('/users', { id: 'bob2', name: bob.name, password: 'new-password' }, ADMIN));
  assert.equal(again.statusCode, 201);
});

test('DELETE /users/:id → 404 with the exact body when unknown', async (t) => {
  const { app } = await setup(t);
  const res = await app.inject({ method: 'DELETE', url: '/users/nobody', headers: ADMIN });
  assert.equal(res.statusCode, 404);
  assert.deepEqual(res.json(), { error: 'Utilisateur non trouvé' });
});

test('DELETE /users/:id → 404 the second time', async (t) => {
  const { app } = await setup(t);
  assert.equal((await app.inject({ method: 'DELETE', url: '/users/2', headers: ADMIN })).statusCode, 200);
  assert.equal((await app.inject({ method: 'DELETE', url: '/users/2', headers: ADMIN })).statusCode, 404);
});

for (const [what, id] of [
  ['a colon', 'a:b'],
  ['a star', '*'],
  ['a star after text', 'user*'],
  ['a space', 'a%20b'],
  ['a glob class', '%5Ba-z%5D'],
] as const) {
  test(`DELETE /users/:id → 400 for an id holding ${what}`, async (t) => {
    const { app } = await setup(t);
    const res = await app.inject({ method: 'DELETE', url: `/users/${id}`, headers: ADMIN });
    assert.equal(res.statusCode, 400);
    assert.deepEqual(res.json(), { error: "'id' a un format invalide" });
  });
}

test('DELETE /users/:id → 401 without a credential, 403 for a user', async (t) => {
  const { app } = await setup(t);
  const anonymous = await app.inject({ method: 'DELETE', url: `/users/${bob.id}` });
  assert.equal(anonymous.statusCode, 401);
  assert.deepEqual(anonymous.json(), { error: 'Authentification requise' });
  const token = await login(app, alice.name, alice.password);
  const user = await app.inject({ method: 'DELETE', url: `/users/${bob.id}`, headers: auth(token) });
  assert.equal(user.statusCode, 403);
  assert.deepEqual(user.json(), { error: 'Droits administrateur requis' });
  assert.equal((await app.inject({ url: '/users/all', headers: ADMIN })).json().length, 3);
});

test('hostile user ids never create a key, nor anything outside the prefix', SLOW, async (t) => {
  // A private Redis, so that a scan of the whole database sees this test's keys only.
  const privateRedis = await startPrivateRedis();
  t.after(() => privateRedis.stop());
  const prefix = 'hostile:';
  const app = await scoped(t, usersApp({ prefix, redisUrl: privateRedis.url }));
  const client = connectRedis(privateRedis.url);
  await client.connect();
  t.after(() => client.disconnect());
  const token = await login(app, alice.name, alice.password);
  const before = (await scanKeys(client, '*')).sort();
  assert.ok(before.length > 0 && before.every((k) => k.startsWith(prefix)), before.join(', '));

  for (const id of ['a:b', '*', 'x*', 'a%20b', '..%2F..%2Fx', '%00', 'users:seeded', 'a%0D%0ADEL%20x']) {
    await app.inject({ method: 'DELETE', url: `/users/${id}`, headers: ADMIN });
    await app.inject(post('/users', { id: decodeURIComponent(id), name: `Name ${id}`, password: 'majordome' }, ADMIN));
  }
  await app.inject({ url: '/users/me', headers: auth('*') });
  await app.inject({ url: '/users/me', headers: auth(`${token}*`) });

  const afterKeys = (await scanKeys(client, '*')).sort();
  assert.deepEqual(afterKeys, before);
  assert.equal(await client.hlen(`${prefix}users`), 3);
});

// ---------------------------------------------------------------- bodies

test('POST /users/login → 413 JSON for a body over BODY_LIMIT_BYTES', async (t) => {
  const { app } = await setup(t);
  const res = await app.inject(post('/users/login', { name: 'Alice', password: 'x'.repeat(16_384) }));
  assert.equal(res.statusCode, 413);
  assert.deepEqual(res.json(), { error: 'Corps de requête trop volumineux' });
});

test('POST /users/login → 413 at a lowered BODY_LIMIT_BYTES, 200 just under it', async (t) => {
  const { app } = await setup(t, { BODY_LIMIT_BYTES: '2048' });
  const base = JSON.stringify({ name: alice.name, password: alice.password, pad: '' }).length;
  const fits = await app.inject(
    post('/users/login', { name: alice.name, password: alice.password, pad: 'x'.repeat(2048 - base) }),
  );
  assert.equal(fits.statusCode, 200, fits.body);
  const over = await app.inject(
    post('/users/login', { name: alice.name, password: alice.password, pad: 'x'.repeat(2049 - base) }),
  );
  assert.equal(over.statusCode, 413);
});

test('POST /users/login → 400 with the exact body for malformed JSON', async (t) => {
  const { app } = await setup(t);
  const res = await app.inject({
    method: 'POST',
    url: '/users/login',
    headers: { 'content-type': 'application/json' },
    payload: '{"name": "Alice", "password": ',
  });
  assert.equal(res.statusCode, 400);
  assert.deepEqual(res.json(), { error: 'Corps JSON invalide' });
});

test('POST /users/login → 415 JSON for a text/plain body', async (t) => {
  const { app } = await setup(t);
  const res = await app.inject({
    method: 'POST',
    url: '/users/login',
    headers: { 'content-type': 'text/plain' },
    payload: 'name=Alice&password=inWonderland',
  });
  assert.equal(res.statusCode, 415);
  assert.deepEqual(res.json(), { error: 'Type de contenu non supporté (application/json attendu)' });
});

test('POST /users/login → 415 JSON for a form body', async (t) => {
  const { app } = await setup(t);
  const res = await app.inject({
    method: 'POST',
    url: '/users/login',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload: 'name=Alice&password=inWonderland',
  });
  assert.equal(res.statusCode, 415);
  assert.deepEqual(res.json(), { error: 'Type de contenu non supporté (application/json attendu)' });
});
