import assert from 'node:assert/strict';
import { after, before, type TestContext, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { redisUrlConfig } from '../../src/lib/config/index.ts';
import { createRedis, waitForRedis } from '../../src/lib/redis/index.ts';
import { readQuotesFile } from '../../src/lib/seed/index.ts';
import { foldText } from '../../src/lib/text/index.ts';
import { QuoteStore } from '../../src/services/quotes/quote-store.ts';
import { ADMIN, auth, login, quotesApp, SEED_USERS, scoped, searchApp, usersApp } from '../helpers/apps.ts';
import { cleanPrefix, requireRedis, testRedisUrl, uniquePrefix } from '../helpers/redis.ts';

const url = testRedisUrl();
const filePrefix = uniquePrefix('search');
let count = 0;
const freshPrefix = () => `${filePrefix}${++count}:`;

const [alice] = SEED_USERS;
const SLOW = { timeout: 30_000 };

/** Read-only tests share one seeded database and one search app, closed in after(). */
let shared: { search: FastifyInstance; quotes: FastifyInstance; users: FastifyInstance; token: string };
let catalogue: string[];

before(async () => {
  await requireRedis(url);
  catalogue = await readQuotesFile('data/initial_data_quotes.csv');
  const prefix = freshPrefix();
  const quotes = await quotesApp({ prefix });
  const users = await usersApp({ prefix });
  const search = await searchApp({ prefix });
  shared = { quotes, users, search, token: await login(users, alice.name, alice.password) };
});

after(async () => {
  await Promise.all([shared?.search.close(), shared?.quotes.close(), shared?.users.close()]);
  await cleanPrefix(url, filePrefix);
});

async function find(keyword: string, query = ''): Promise<{ status: number; body: unknown }> {
  const res = await shared.search.inject({
    url: `/search?keyword=${encodeURIComponent(keyword)}${query}`,
    headers: auth(shared.token),
  });
  return { status: res.statusCode, body: res.json() };
}

/** Every catalogue quote containing `keyword` once folded, in id order: the expected answer. */
const expected = (keyword: string) => catalogue.filter((q) => foldText(q).includes(foldText(keyword)));

// ---------------------------------------------------------------- matching

const AEROLITHES = ['Aérolithe', "Bougre de sauvage d'aérolithe de tonnerre de Brest", "Sauvage d'aérolithe"];

test('GET /search?keyword=aerolithe → finds Aérolithe, accents ignored', async () => {
  assert.deepEqual(await find('aerolithe'), { status: 200, body: AEROLITHES });
});

test('GET /search?keyword=zouave interplanetaire → finds the curse written with a non-breaking space', async () => {
  assert.deepEqual(await find('zouave interplanetaire'), { status: 200, body: ['Zouave\u00A0interplanétaire'] });
});

test('GET /search → a keyword typed with a non-breaking space finds the same curse', async () => {
  assert.deepEqual(await find('Zouave\u00A0interplanétaire'), { status: 200, body: ['Zouave\u00A0interplanétaire'] });
});

test('GET /search → ignores case', async () => {
  for (const keyword of ['AÉROLITHE', 'AeRoLiThE', 'aérolithe']) {
    assert.deepEqual(await find(keyword), { status: 200, body: AEROLITHES }, keyword);
  }
});

test('GET /search → every matching quote, in id order', async () => {
  const result = await find('zouave');
  assert.equal(result.status, 200);
  assert.ok((result.body as string[]).length >= 3);
  assert.deepEqual(result.body, expected('zouave'));
});

test('GET /search → finds the curse with a comma, whole', async () => {
  assert.deepEqual(await find('blague, fumisterie'), { status: 200, body: ['Blague,\u00A0fumisterie\u00A0et compagnie'] });
});

test('GET /search → [] when nothing matches', async () => {
  assert.deepEqual(await find('capitaine au long cours'), { status: 200, body: [] });
});

test('GET /search → never matches across two quotes', async () => {
  // "Aérolithe" is followed by "Amiral de bateau-lavoir" in the catalogue.
  assert.deepEqual(catalogue.slice(1, 3).map(foldText), ['aerolithe', 'amiral de bateau-lavoir']);
  assert.deepEqual(await find('lithe amiral'), { status: 200, body: [] });
  assert.deepEqual(await find('lithe\u0000amiral'), { status: 200, body: [] });
});

// ---------------------------------------------------------------- limit

test('GET /search?limit=2 → the first two matches only', async () => {
  assert.deepEqual(await find('zouave', '&limit=2'), { status: 200, body: expected('zouave').slice(0, 2) });
});

test('GET /search?limit=1000 → all the matches', async () => {
  const result = await find('a', '&limit=1000');
  assert.equal(result.status, 200);
  assert.deepEqual(result.body, expected('a'));
  assert.ok((result.body as string[]).length > 100);
});

for (const [limit, error] of [
  ['0', "'limit' doit être supérieur ou égal à 1"],
  ['1001', "'limit' doit être inférieur ou égal à 1000"],
  ['abc', "'limit' doit être de type integer"],
] as const) {
  test(`GET /search?limit=${limit} → 400 with a JSON error`, async () => {
    assert.deepEqual(await find('zouave', `&limit=${limit}`), { status: 400, body: { error } });
  });
}

// ---------------------------------------------------------------- keyword required

test('GET /search → 400 with the exact body without a keyword', async () => {
  const res = await shared.search.inject({ url: '/search', headers: auth(shared.token) });
  assert.equal(res.statusCode, 400);
  assert.deepEqual(res.json(), { error: 'Mot-clé requis' });
});

for (const [what, keyword] of [
  ['an empty keyword', ''],
  ['a blank keyword', '   '],
  ['a keyword of non-breaking spaces', '\u00A0\u00A0'],
  ['a keyword of tabs', '\t'],
] as const) {
  test(`GET /search → 400 with the exact body for ${what}`, async () => {
    assert.deepEqual(await find(keyword), { status: 400, body: { error: 'Mot-clé requis' } });
  });
}

test('GET /search → 400 JSON error for a keyword over 200 characters', async () => {
  assert.deepEqual(await find('a'.repeat(201)), { status: 400, body: { error: "'keyword' doit faire au plus 200 caractères" } });
  assert.equal((await find('a'.repeat(200))).status, 200);
});

// ---------------------------------------------------------------- authentication

test('GET /search → 401 with the exact body without a token', async () => {
  const res = await shared.search.inject({ url: '/search?keyword=zouave' });
  assert.equal(res.statusCode, 401);
  assert.deepEqual(res.json(), { error: 'Authentification requise' });
});

test('GET /search → 401 with the exact body for an unknown token', async () => {
  const res = await shared.search.inject({ url: '/search?keyword=zouave', headers: auth('forged-token-0123456789abcdef') });
  assert.equal(res.statusCode, 401);
  assert.deepEqual(res.json(), { error: 'Jeton invalide ou expiré' });
});

test('GET /search → the token works as Bearer too, and an admin key is accepted', async () => {
  for (const headers of [{ authorization: `Bearer ${shared.token}` }, ADMIN]) {
    const res = await shared.search.inject({ url: '/search?keyword=aerolithe', headers });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.json(), AEROLITHES);
  }
});

test('GET /search → 401 once the user logged out', async (t) => {
  const prefix = freshPrefix();
  await scoped(t, quotesApp({ prefix }));
  const users = await scoped(t, usersApp({ prefix }));
  const search = await scoped(t, searchApp({ prefix }));
  const token = await login(users, alice.name, alice.password);
  assert.equal((await search.inject({ url: '/search?keyword=a', headers: auth(token) })).statusCode, 200);
  await users.inject({ method: 'POST', url: '/users/logout', headers: auth(token) });
  assert.equal((await search.inject({ url: '/search?keyword=a', headers: auth(token) })).statusCode, 401);
});

// ---------------------------------------------------------------- freshness

async function freshTrio(t: TestContext) {
  const prefix = freshPrefix();
  const quotes = await scoped(t, quotesApp({ prefix }));
  const users = await scoped(t, usersApp({ prefix }));
  const search = await scoped(t, searchApp({ prefix }));
  const token = await login(users, alice.name, alice.password);
  const query = async (keyword: string) =>
    (await search.inject({ url: `/search?keyword=${encodeURIComponent(keyword)}`, headers: auth(token) })).json() as string[];
  return { prefix, quotes, search, token, query };
}

test('GET /search → a quote added through the quotes service is found right after', SLOW, async (t) => {
  const { quotes, token, query } = await freshTrio(t);
  // Warm the search app's index first, so that only the version key can tell it the catalogue changed.
  assert.deepEqual(await query('cornichon galactique'), []);
  const res = await quotes.inject({
    method: 'POST',
    url: '/quotes',
    headers: auth(token),
    payload: { user_id: alice.id, quote: 'Cornichon galactique' },
  });
  assert.equal(res.statusCode, 201);
  assert.deepEqual(await query('cornichon galactique'), ['Cornichon galactique']);
  await quotes.inject({ method: 'DELETE', url: `/quotes/${(res.json() as { id: number }).id}`, headers: auth(token) });
  assert.deepEqual(await query('cornichon galactique'), []);
});

test('GET /search → a quote added through another QuoteStore on the same prefix is found right after', SLOW, async (t) => {
  const { prefix, query } = await freshTrio(t);
  assert.deepEqual(await query('anthropopithèque lunaire'), []);
  const redis = createRedis(redisUrlConfig(url, { commandTimeoutMs: 2_000 }));
  t.after(() => redis.disconnect());
  await waitForRedis(redis, 5_000);
  const store = new QuoteStore(redis, prefix);
  await store.create('Anthropopithèque lunaire', '0');
  assert.deepEqual(await query('anthropopitheque lunaire'), ['Anthropopithèque lunaire']);
  await store.appendMany(['Zygomatique à roulettes', 'Zygomatique en conserve']);
  assert.deepEqual(await query('zygomatique'), ['Zygomatique à roulettes', 'Zygomatique en conserve']);
});

test('GET /search → two search instances on one prefix both see a change', SLOW, async (t) => {
  const { prefix, quotes, token, query } = await freshTrio(t);
  const other = await scoped(t, searchApp({ prefix }));
  const otherQuery = async (keyword: string) =>
    (await other.inject({ url: `/search?keyword=${encodeURIComponent(keyword)}`, headers: auth(token) })).json() as string[];
  assert.deepEqual(await query('accapareur'), ['Accapareur']);
  assert.deepEqual(await otherQuery('accapareur'), ['Accapareur']);
  await quotes.inject({ method: 'PUT', url: '/quotes/1', headers: ADMIN, payload: { quote: 'Accapareur de baignoire' } });
  assert.deepEqual(await query('accapareur'), ['Accapareur de baignoire']);
  assert.deepEqual(await otherQuery('accapareur'), ['Accapareur de baignoire']);
});
