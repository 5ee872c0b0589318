import assert from 'node:assert/strict';
import { after, before, type TestContext, test } from 'node:test';
import type { InjectOptions } from 'fastify';
import type { Redis } from 'ioredis';
import type { Env } from '../../src/lib/config/index.ts';
import { readQuotesFile } from '../../src/lib/seed/index.ts';
import { QuoteStore } from '../../src/services/quotes/quote-store.ts';
import { ADMIN, auth, login, quotesApp, SEED_QUOTE_COUNT, SEED_USERS, scoped, searchApp, usersApp } from '../helpers/apps.ts';
import {
  cleanPrefix,
  connectRedis,
  requireRedis,
  scanKeys,
  startPrivateRedis,
  testRedisUrl,
  uniquePrefix,
} from '../helpers/redis.ts';

const url = testRedisUrl();
const filePrefix = uniquePrefix('quotes');
let redis: Redis;
let catalogue: string[];
let count = 0;
/** Each test gets its own database under the file's prefix, so ids are predictable. */
const freshPrefix = () => `${filePrefix}${++count}:`;

before(async () => {
  await requireRedis(url);
  redis = connectRedis(url);
  await redis.connect();
  catalogue = await readQuotesFile('data/initial_data_quotes.csv');
});

after(async () => {
  await cleanPrefix(url, filePrefix);
  redis?.disconnect();
});

const [alice, bob] = SEED_USERS;
const SLOW = { timeout: 30_000 };

interface Quote {
  id: number;
  quote: string;
  user_id?: string;
  created_at?: string;
  updated_at?: string;
}

/** A quotes app on a fresh database; `tokenOf` logs in through a users app on the same database, built on first use. */
async function setup(t: TestContext, env: Env = {}) {
  const prefix = freshPrefix();
  const app = await scoped(t, quotesApp({ prefix, env }));
  let users: ReturnType<typeof usersApp> | undefined;
  const tokenOf = async (user: (typeof SEED_USERS)[number]) => {
    users ??= scoped(t, usersApp({ prefix }));
    return login(await users, user.name, user.password);
  };
  return { prefix, app, tokenOf };
}

/** What a write would move: the generation and the number of recorded changes. */
async function catalogueState(client: Redis, prefix: string) {
  return {
    generation: await client.get(`${prefix}quotes:generation`),
    changes: await client.xlen(`${prefix}quotes:changes`),
  };
}

function json(method: 'POST' | 'PUT', url: string, payload: unknown, headers: Record<string, string> = {}): InjectOptions {
  return { method, url, payload: payload as InjectOptions['payload'], headers };
}

// ---------------------------------------------------------------- GET /quotes

test('GET /quotes → the 415 seed quotes ordered by id, with X-Total-Count: 415', async (t) => {
  const { app } = await setup(t);
  const res = await app.inject({ url: '/quotes' });
  assert.equal(res.statusCode, 200);
  assert.equal(res.headers['x-total-count'], '415');
  assert.match(String(res.headers['content-type']), /^application\/json/);
  const quotes = res.json() as Quote[];
  assert.equal(quotes.length, SEED_QUOTE_COUNT);
  assert.deepEqual(
    quotes.map((q) => q.id),
    Array.from({ length: SEED_QUOTE_COUNT }, (_, i) => i + 1),
  );
  assert.deepEqual(
    quotes.map((q) => q.quote),
    catalogue,
  );
});

test('GET /quotes → seed quotes have no user_id', async (t) => {
  const { app } = await setup(t);
  const quotes = (await app.inject({ url: '/quotes' })).json() as Quote[];
  for (const quote of quotes) {
    assert.ok(!('user_id' in quote), `quote ${quote.id} has a user_id`);
    assert.deepEqual(Object.keys(quote).sort(), ['created_at', 'id', 'quote']);
  }
});

const pages: ReadonlyArray<{ query: string; ids: number[] }> = [
  { query: 'limit=3', ids: [1, 2, 3] },
  { query: 'limit=5&offset=100', ids: [101, 102, 103, 104, 105] },
  { query: 'offset=412', ids: [413, 414, 415] },
  { query: 'offset=413&limit=10', ids: [414, 415] },
  { query: 'offset=415', ids: [] },
  { query: 'offset=100000', ids: [] },
  { query: 'limit=1000', ids: Array.from({ length: 415 }, (_, i) => i + 1) },
];

for (const { query, ids } of pages) {
  test(`GET /quotes?${query} → quotes ${ids.length === 0 ? 'none' : `${ids[0]}..${ids.at(-1)}`}, total still 415`, async (t) => {
    const { app } = await setup(t);
    const res = await app.inject({ url: `/quotes?${query}` });
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers['x-total-count'], '415');
    assert.deepEqual(
      (res.json() as Quote[]).map((q) => q.id),
      ids,
    );
  });
}

const badPages: ReadonlyArray<{ query: string; error: string }> = [
  { query: 'limit=0', error: "'limit' doit être supérieur ou égal à 1" },
  { query: 'limit=1001', error: "'limit' doit être inférieur ou égal à 1000" },
  { query: 'limit=abc', error: "'limit' doit être de type integer" },
  { query: 'offset=-1', error: "'offset' doit être supérieur ou égal à 0" },
  { query: 'offset=1.5', error: "'offset' doit être de type integer" },
];

for (const { query, error } of badPages) {
  test(`GET /quotes?${query} → 400 with a JSON error`, async (t) => {
    const { app } = await setup(t);
    const res = await app.inject({ url: `/quotes?${query}` });
    assert.equal(res.statusCode, 400);
    assert.deepEqual(res.json(), { error });
  });
}

test('GET /quotes → a new quote appears at once, last, and the total follows', async (t) => {
  const { app } = await setup(t);
  await app.inject({ url: '/quotes' });
  await app.inject(json('POST', '/quotes', { user_id: 'x', quote: 'Bachi-bouzouk des Carpates' }, ADMIN));
  const res = await app.inject({ url: '/quotes?offset=414' });
  assert.equal(res.headers['x-total-count'], '416');
  assert.deepEqual(
    (res.json() as Quote[]).map((q) => [q.id, q.quote]),
    [
      [415, catalogue[414]],
      [416, 'Bachi-bouzouk des Carpates'],
    ],
  );
});

// ---------------------------------------------------------------- GET /quotes/random

test('GET /quotes/random → quotes of the catalogue, not always the same one', async (t) => {
  const { app } = await setup(t);
  const ids = new Set<number>();
  for (let i = 0; i < 20; i++) {
    const res = await app.inject({ url: '/quotes/random' });
    assert.equal(res.statusCode, 200);
    const quote = res.json() as Quote;
    assert.equal(quote.quote, catalogue[quote.id - 1], `quote ${quote.id} is not the catalogue's`);
    ids.add(quote.id);
  }
  assert.ok(ids.size > 1, `20 draws gave only ${[...ids].join(', ')}`);
});

test('GET /quotes/random → 404 with the exact body when there is no quote', async (t) => {
  const { app } = await setup(t, { SEED_ON_START: 'false' });
  const res = await app.inject({ url: '/quotes/random' });
  assert.equal(res.statusCode, 404);
  assert.deepEqual(res.json(), { error: 'Citation non trouvée' });
});

// ---------------------------------------------------------------- GET /quotes/:id

test('GET /quotes/:id → 200 with the quote', async (t) => {
  const { app } = await setup(t);
  const res = await app.inject({ url: '/quotes/2' });
  assert.equal(res.statusCode, 200);
  const quote = res.json() as Quote;
  assert.deepEqual({ id: quote.id, quote: quote.quote }, { id: 2, quote: 'Aérolithe' });
  assert.deepEqual(Object.keys(quote).sort(), ['created_at', 'id', 'quote']);
});

test('GET /quotes/:id → the curse with a comma, whole', async (t) => {
  const { app } = await setup(t);
  const id = catalogue.findIndex((q) => q.startsWith('Blague')) + 1;
  const res = await app.inject({ url: `/quotes/${id}` });
  assert.equal((res.json() as Quote).quote, 'Blague,\u00A0fumisterie\u00A0et compagnie');
});

for (const id of ['416', '99999']) {
  test(`GET /quotes/${id} → 404 with the exact body when unknown`, async (t) => {
    const { app } = await setup(t);
    const res = await app.inject({ url: `/quotes/${id}` });
    assert.equal(res.statusCode, 404);
    assert.deepEqual(res.json(), { error: 'Citation non trouvée' });
  });
}

/**
 * Path segments, as sent on the wire, that must not name a quote: only canonical decimal (1 to 2^53−1, no sign,
 * no leading zero) does. `%201` decodes to ` 1`; `%D9%A1` and `%EF%BC%91` are Arabic-Indic and full-width ones.
 */
const NON_CANONICAL_IDS = [
  '0x10',
  '0X10',
  '0b11',
  '0o7',
  '1E1',
  '1e3',
  '+1',
  '01',
  '001',
  '%201',
  '1%20',
  '%091',
  '1.0',
  '1.5',
  '1.',
  '0',
  '-0',
  '-1',
  'abc',
  '1*',
  'a:b',
  'Infinity',
  'NaN',
  '%D9%A1',
  '%EF%BC%91',
  '1_0',
  '9007199254740992',
  '12345678901234567890',
];

test('GET, PUT and DELETE /quotes/:id → 400 QUOTE_ID_INVALID for a non-canonical id: no alias of a quote', async (t) => {
  const { app, prefix } = await setup(t);
  const stateBefore = await catalogueState(redis, prefix);
  const error = { error: 'Identifiant de citation invalide' };
  for (const id of NON_CANONICAL_IDS) {
    for (const request of [
      { url: `/quotes/${id}` },
      json('PUT', `/quotes/${id}`, { quote: 'Alias' }, ADMIN),
      { method: 'DELETE' as const, url: `/quotes/${id}`, headers: ADMIN },
    ]) {
      const res = await app.inject(request);
      assert.equal(res.statusCode, 400, `${request.method ?? 'GET'} /quotes/${id}: ${res.body}`);
      assert.deepEqual(res.json(), error, `${request.method ?? 'GET'} /quotes/${id}`);
    }
  }
  assert.equal(await redis.hlen(`${prefix}quotes`), SEED_QUOTE_COUNT, 'no quote deleted through an alias');
  assert.deepEqual(await catalogueState(redis, prefix), stateBefore, 'no quote changed through an alias');
});

test('GET /quotes/:id → a canonical id still works, %31 is /quotes/1 once decoded, 2^53−1 is a valid (unknown) id', async (t) => {
  const { app } = await setup(t);
  for (const url of ['/quotes/1', '/quotes/%31', '/quotes/16']) {
    const res = await app.inject({ url });
    assert.equal(res.statusCode, 200, `${url}: ${res.body}`);
  }
  assert.equal(((await app.inject({ url: '/quotes/%31' })).json() as Quote).id, 1);
  const largest = await app.inject({ url: '/quotes/9007199254740991' });
  assert.equal(largest.statusCode, 404, largest.body);
  assert.deepEqual(largest.json(), { error: 'Citation non trouvée' });
});

test('GET /quotes/abc and other hostile ids never create a key, nor anything outside the prefix', SLOW, async (t) => {
  // A private Redis, so that a scan of the whole database sees this test's keys only.
  const privateRedis = await startPrivateRedis();
  t.after(() => privateRedis.stop());
  const prefix = 'hostile:';
  const app = await scoped(t, quotesApp({ prefix, redisUrl: privateRedis.url }));
  const client = connectRedis(privateRedis.url);
  await client.connect();
  t.after(() => client.disconnect());
  const before = (await scanKeys(client, '*')).sort();
  assert.ok(before.length > 0 && before.every((k) => k.startsWith(prefix)), before.join(', '));
  const stateBefore = await catalogueState(client, prefix);

  for (const id of ['abc', 'a:b', '*', '1*', '%20', '0', '-1', '1e3', '..%2Fquotes']) {
    await app.inject({ url: `/quotes/${id}` });
    await app.inject({ method: 'DELETE', url: `/quotes/${id}`, headers: ADMIN });
    await app.inject(json('PUT', `/quotes/${id}`, { quote: 'x' }, ADMIN));
  }
  await app.inject(json('POST', '/quotes', { user_id: 'a:b*', quote: 'x' }, ADMIN));

  assert.deepEqual((await scanKeys(client, '*')).sort(), before);
  assert.deepEqual(await catalogueState(client, prefix), stateBefore);
  assert.equal(await client.hlen(`${prefix}quotes`), SEED_QUOTE_COUNT);
});

// ---------------------------------------------------------------- POST /quotes

test('POST /quotes → 201 {"message":"Citation ajoutée","id":416}, then GET /quotes/416 has the text and the user_id', async (t) => {
  const { app, tokenOf } = await setup(t);
  const token = await tokenOf(alice);
  const res = await app.inject(json('POST', '/quotes', { user_id: alice.id, quote: 'Moule à gaufres !' }, auth(token)));
  assert.equal(res.statusCode, 201);
  assert.deepEqual(res.json(), { message: 'Citation ajoutée', id: 416 });
  const got = await app.inject({ url: '/quotes/416' });
  assert.equal(got.statusCode, 200);
  const quote = got.json() as Quote;
  assert.deepEqual(
    { id: quote.id, quote: quote.quote, user_id: quote.user_id },
    { id: 416, quote: 'Moule à gaufres !', user_id: '0' },
  );
  assert.ok(quote.created_at !== undefined && !Number.isNaN(Date.parse(quote.created_at)));
});

test('POST /quotes → ids keep growing, never reused after a delete', async (t) => {
  const { app } = await setup(t);
  const add = async () =>
    ((await app.inject(json('POST', '/quotes', { user_id: 'x', quote: 'Ectoplasme' }, ADMIN))).json() as { id: number }).id;
  assert.equal(await add(), 416);
  assert.equal((await app.inject({ method: 'DELETE', url: '/quotes/416', headers: ADMIN })).statusCode, 200);
  assert.equal(await add(), 417);
});

test('POST /quotes → stores the text trimmed', async (t) => {
  const { app } = await setup(t);
  const res = await app.inject(json('POST', '/quotes', { user_id: 'x', quote: '  Mille sabords !\u00A0' }, ADMIN));
  const { id } = res.json() as { id: number };
  assert.equal(((await app.inject({ url: `/quotes/${id}` })).json() as Quote).quote, 'Mille sabords !');
});

test('POST /quotes → a numeric user_id is the same user as its string form', async (t) => {
  const { app, tokenOf } = await setup(t);
  const res = await app.inject(json('POST', '/quotes', { user_id: 0, quote: 'Anacoluthe' }, auth(await tokenOf(alice))));
  assert.equal(res.statusCode, 201);
  assert.equal(((await app.inject({ url: '/quotes/416' })).json() as Quote).user_id, '0');
});

test('POST /quotes → the Bearer form of the token works too', async (t) => {
  const { app, tokenOf } = await setup(t);
  const token = await tokenOf(alice);
  const res = await app.inject(
    json('POST', '/quotes', { user_id: alice.id, quote: 'Iconoclaste' }, { authorization: `Bearer ${token}` }),
  );
  assert.equal(res.statusCode, 201);
});

test('POST /quotes → 403 with the exact body when a user posts as another user_id', async (t) => {
  const { app, tokenOf, prefix } = await setup(t);
  const res = await app.inject(json('POST', '/quotes', { user_id: bob.id, quote: 'Usurpateur' }, auth(await tokenOf(alice))));
  assert.equal(res.statusCode, 403);
  assert.deepEqual(res.json(), { error: 'Vous ne pouvez publier que sous votre propre user_id' });
  assert.equal(await redis.hlen(`${prefix}quotes`), SEED_QUOTE_COUNT);
});

test('POST /quotes → an admin may post as any user_id', async (t) => {
  const { app } = await setup(t);
  const res = await app.inject(json('POST', '/quotes', { user_id: bob.id, quote: 'Cercopithèque' }, ADMIN));
  assert.equal(res.statusCode, 201);
  assert.equal(((await app.inject({ url: '/quotes/416' })).json() as Quote).user_id, bob.id);
});

test('POST /quotes → 401 with the exact body without a token', async (t) => {
  const { app } = await setup(t);
  const res = await app.inject(json('POST', '/quotes', { user_id: alice.id, quote: 'Anonyme' }));
  assert.equal(res.statusCode, 401);
  assert.deepEqual(res.json(), { error: 'Authentification requise' });
});

test('POST /quotes → 401 with the exact body for an unknown token', async (t) => {
  const { app } = await setup(t);
  const res = await app.inject(json('POST', '/quotes', { user_id: alice.id, quote: 'Faussaire' }, auth('not-a-real-token')));
  assert.equal(res.statusCode, 401);
  assert.deepEqual(res.json(), { error: 'Jeton invalide ou expiré' });
});

const missingQuote: ReadonlyArray<readonly [string, unknown]> = [
  ['no user_id', { quote: 'Sans auteur' }],
  ['no quote', { user_id: '0' }],
  ['no field', {}],
  ['an empty quote', { user_id: '0', quote: '' }],
  ['a blank quote', { user_id: '0', quote: ' \t\u00A0 ' }],
  ['an empty user_id', { user_id: '', quote: 'Sans auteur' }],
  ['a blank user_id', { user_id: '  ', quote: 'Sans auteur' }],
];

for (const [what, payload] of missingQuote) {
  test(`POST /quotes → 400 with the exact body for ${what}`, async (t) => {
    const { app } = await setup(t);
    const res = await app.inject(json('POST', '/quotes', payload, ADMIN));
    assert.equal(res.statusCode, 400);
    assert.deepEqual(res.json(), { error: 'user_id et quote sont requis' });
  });
}

test('POST /quotes → 400 with the exact body when there is no body at all', async (t) => {
  const { app } = await setup(t);
  const res = await app.inject({ method: 'POST', url: '/quotes', headers: ADMIN });
  assert.equal(res.statusCode, 400);
  assert.deepEqual(res.json(), { error: 'user_id et quote sont requis' });
});

test('POST /quotes → 400 JSON error for fields of the wrong type', async (t) => {
  const { app } = await setup(t);
  const cases: ReadonlyArray<readonly [unknown, string]> = [
    [{ user_id: '0', quote: 123 }, "'quote' doit être de type string"],
    [{ user_id: '0', quote: ['a'] }, "'quote' doit être de type string"],
    [{ user_id: ['0'], quote: 'x' }, "'user_id' doit être de type string"],
    [{ user_id: 'a:b', quote: 'x' }, "'user_id' a un format invalide"],
  ];
  for (const [payload, error] of cases) {
    const res = await app.inject(json('POST', '/quotes', payload, ADMIN));
    assert.equal(res.statusCode, 400, JSON.stringify(payload));
    assert.deepEqual(res.json(), { error });
  }
});

test('POST /quotes → 400 for a quote of 1001 characters, 201 at 1000', async (t) => {
  const { app } = await setup(t);
  const long = await app.inject(json('POST', '/quotes', { user_id: '0', quote: 'a'.repeat(1001) }, ADMIN));
  assert.equal(long.statusCode, 400);
  assert.deepEqual(long.json(), { error: "'quote' doit faire au plus 1000 caractères" });
  const fits = await app.inject(json('POST', '/quotes', { user_id: '0', quote: 'a'.repeat(1000) }, ADMIN));
  assert.equal(fits.statusCode, 201);
});

test('POST /quotes → 413 JSON for a body over BODY_LIMIT_BYTES (16384 by default)', async (t) => {
  const { app, prefix } = await setup(t);
  const res = await app.inject(json('POST', '/quotes', { user_id: '0', quote: 'a'.repeat(16_400) }, ADMIN));
  assert.equal(res.statusCode, 413);
  assert.deepEqual(res.json(), { error: 'Corps de requête trop volumineux' });
  assert.equal(await redis.hlen(`${prefix}quotes`), SEED_QUOTE_COUNT);
});

test('POST /quotes → 400 with the exact body for malformed JSON', async (t) => {
  const { app } = await setup(t);
  const res = await app.inject({
    method: 'POST',
    url: '/quotes',
    headers: { ...ADMIN, 'content-type': 'application/json' },
    payload: "{'user_id': 0, 'quote': 'x'}",
  });
  assert.equal(res.statusCode, 400);
  assert.deepEqual(res.json(), { error: 'Corps JSON invalide' });
});

test('POST /quotes → 415 JSON for a text/plain body', async (t) => {
  const { app, prefix } = await setup(t);
  const res = await app.inject({
    method: 'POST',
    url: '/quotes',
    headers: { ...ADMIN, 'content-type': 'text/plain' },
    payload: 'Mille millions de mille sabords',
  });
  assert.equal(res.statusCode, 415);
  assert.deepEqual(res.json(), { error: 'Type de contenu non supporté (application/json attendu)' });
  assert.equal(await redis.hlen(`${prefix}quotes`), SEED_QUOTE_COUNT);
});

// ---------------------------------------------------------------- PUT /quotes/:id

/** Alice posts a quote and gets its id. */
async function aliceQuote(app: Awaited<ReturnType<typeof setup>>['app'], token: string, text = 'Original'): Promise<number> {
  const res = await app.inject(json('POST', '/quotes', { user_id: alice.id, quote: text }, auth(token)));
  assert.equal(res.statusCode, 201, res.body);
  return (res.json() as { id: number }).id;
}

test('PUT /quotes/:id → 200 with the modified quote when its author changes it', async (t) => {
  const { app, tokenOf } = await setup(t);
  const token = await tokenOf(alice);
  const id = await aliceQuote(app, token);
  const res = await app.inject(json('PUT', `/quotes/${id}`, { quote: 'Modifiée' }, auth(token)));
  assert.equal(res.statusCode, 200);
  const quote = res.json() as Quote;
  assert.deepEqual({ id: quote.id, quote: quote.quote, user_id: quote.user_id }, { id, quote: 'Modifiée', user_id: alice.id });
  assert.ok(quote.updated_at !== undefined);
  assert.equal(((await app.inject({ url: `/quotes/${id}` })).json() as Quote).quote, 'Modifiée');
});

test('PUT /quotes/:id → the search service sees the change at once', async (t) => {
  const { app, tokenOf, prefix } = await setup(t);
  const search = await scoped(t, searchApp({ prefix }));
  const token = await tokenOf(alice);
  const id = await aliceQuote(app, token, 'Xylophage quantique');
  const find = async (keyword: string) =>
    (await search.inject({ url: `/search?keyword=${encodeURIComponent(keyword)}`, headers: auth(token) })).json() as string[];
  assert.deepEqual(await find('xylophage quantique'), ['Xylophage quantique']);
  await app.inject(json('PUT', `/quotes/${id}`, { quote: 'Ornithorynque lunaire' }, auth(token)));
  assert.deepEqual(await find('xylophage quantique'), []);
  assert.deepEqual(await find('ornithorynque lunaire'), ['Ornithorynque lunaire']);
});

test("PUT /quotes/:id → 403 with the exact body for another user's quote", async (t) => {
  const { app, tokenOf } = await setup(t);
  const id = await aliceQuote(app, await tokenOf(alice));
  const res = await app.inject(json('PUT', `/quotes/${id}`, { quote: 'Vandale' }, auth(await tokenOf(bob))));
  assert.equal(res.statusCode, 403);
  assert.deepEqual(res.json(), { error: "Vous n'êtes pas l'auteur de cette citation" });
  assert.equal(((await app.inject({ url: `/quotes/${id}` })).json() as Quote).quote, 'Original');
});

test('PUT /quotes/:id → 403 for a user on a seed quote, which belongs to nobody', async (t) => {
  const { app, tokenOf } = await setup(t);
  const res = await app.inject(json('PUT', '/quotes/1', { quote: 'Vandale' }, auth(await tokenOf(alice))));
  assert.equal(res.statusCode, 403);
  assert.deepEqual(res.json(), { error: "Vous n'êtes pas l'auteur de cette citation" });
  assert.equal(((await app.inject({ url: '/quotes/1' })).json() as Quote).quote, 'Accapareur');
});

test("PUT /quotes/:id → an admin may change a seed quote and a user's quote", async (t) => {
  const { app, tokenOf } = await setup(t);
  const id = await aliceQuote(app, await tokenOf(alice));
  for (const target of [1, id]) {
    const res = await app.inject(json('PUT', `/quotes/${target}`, { quote: `Revue ${target}` }, ADMIN));
    assert.equal(res.statusCode, 200, String(target));
    assert.equal(((await app.inject({ url: `/quotes/${target}` })).json() as Quote).quote, `Revue ${target}`);
  }
  // The author stays the author.
  assert.equal(((await app.inject({ url: `/quotes/${id}` })).json() as Quote).user_id, alice.id);
});

test('PUT /quotes/:id → 404 with the exact body when unknown', async (t) => {
  const { app } = await setup(t);
  const res = await app.inject(json('PUT', '/quotes/9999', { quote: 'Fantôme' }, ADMIN));
  assert.equal(res.statusCode, 404);
  assert.deepEqual(res.json(), { error: 'Citation non trouvée' });
});

test('PUT /quotes/:id → 400 for an id that is not a number', async (t) => {
  const { app } = await setup(t);
  const res = await app.inject(json('PUT', '/quotes/abc', { quote: 'x' }, ADMIN));
  assert.equal(res.statusCode, 400);
  assert.deepEqual(res.json(), { error: 'Identifiant de citation invalide' });
});

/** Texts a quote may not be: control characters (a quote is one line), direction overrides, broken Unicode. */
const FORBIDDEN_QUOTE_TEXTS: ReadonlyArray<readonly [string, string]> = [
  ['a NUL', 'Mille\u0000sabords'],
  ['a newline', 'Mille\nsabords'],
  ['a CR LF', 'Mille\r\nsabords'],
  ['a tab', 'Mille\tsabords'],
  ['a C1 NEL (U+0085)', 'Mille\u0085sabords'],
  ['a right-to-left override (U+202E)', 'Mille \u202Esabords'],
  ['a left-to-right isolate (U+2066)', 'Mille \u2066sabords'],
  ['a line separator (U+2028)', 'Mille\u2028sabords'],
];
const TEXT_INVALID = { error: 'Caractères interdits (caractères de contrôle ou de direction)' };
const UNICODE_INVALID = { error: 'Texte invalide : UTF-8 mal formé ou caractère Unicode incomplet' };

test('POST /quotes and PUT /quotes/:id → 400 for control or direction characters, nothing stored', async (t) => {
  const { app, prefix } = await setup(t);
  const changesBefore = await redis.xlen(`${prefix}quotes:changes`);
  for (const [what, text] of FORBIDDEN_QUOTE_TEXTS) {
    const created = await app.inject(json('POST', '/quotes', { user_id: '0', quote: text }, ADMIN));
    assert.equal(created.statusCode, 400, `POST with ${what}: ${created.body}`);
    assert.deepEqual(created.json(), TEXT_INVALID, `POST with ${what}`);
    const updated = await app.inject(json('PUT', '/quotes/1', { quote: text }, ADMIN));
    assert.equal(updated.statusCode, 400, `PUT with ${what}: ${updated.body}`);
    assert.deepEqual(updated.json(), TEXT_INVALID, `PUT with ${what}`);
  }
  assert.equal(await redis.hlen(`${prefix}quotes`), SEED_QUOTE_COUNT);
  assert.equal(await redis.xlen(`${prefix}quotes:changes`), changesBefore, 'no change recorded');
});

test('POST /quotes and PUT /quotes/:id → 400 for invalid UTF-8 bytes or a lone surrogate escape, nothing stored', async (t) => {
  const { app, prefix } = await setup(t);
  const changesBefore = await redis.xlen(`${prefix}quotes:changes`);
  const bodies: ReadonlyArray<readonly [string, Buffer]> = [
    ['a stray 0xFF byte', Buffer.concat([Buffer.from('{"user_id":"0","quote":"Mille '), Buffer.from([0xff]), Buffer.from('"}')])],
    [
      'a truncated sequence',
      Buffer.concat([Buffer.from('{"user_id":"0","quote":"Mille '), Buffer.from([0xe0, 0xa4]), Buffer.from('"}')]),
    ],
    [
      'an encoded surrogate (CESU)',
      Buffer.concat([Buffer.from('{"user_id":"0","quote":"'), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from('"}')]),
    ],
    ['a lone \\ud800 escape', Buffer.from('{"user_id":"0","quote":"Mille \\ud800 sabords"}')],
    ['a lone \\udc00 escape', Buffer.from('{"user_id":"0","quote":"\\udc00"}')],
    ['a lone surrogate in a key', Buffer.from('{"user_id":"0","quote":"x","\\ud83d":1}')],
  ];
  for (const [what, payload] of bodies) {
    for (const [method, url] of [
      ['POST', '/quotes'],
      ['PUT', '/quotes/1'],
    ] as const) {
      const res = await app.inject({ method, url, payload, headers: { ...ADMIN, 'content-type': 'application/json' } });
      assert.equal(res.statusCode, 400, `${method} with ${what}: ${res.body}`);
      assert.deepEqual(res.json(), UNICODE_INVALID, `${method} with ${what}`);
    }
  }
  assert.equal(await redis.hlen(`${prefix}quotes`), SEED_QUOTE_COUNT);
  assert.equal(await redis.xlen(`${prefix}quotes:changes`), changesBefore, 'no change recorded');
});

test('POST /quotes → accented French text, typographic marks, an escaped pair and emoji are stored as sent', async (t) => {
  const { app } = await setup(t);
  for (const text of [
    'Ça, c’est « du français » : où êtes-vous, Nestor ?',
    'Tonnerre de Brest ! 🚢⚓',
    'Bachi-bouzouk \u00A0!',
  ]) {
    const created = await app.inject(json('POST', '/quotes', { user_id: '0', quote: text }, ADMIN));
    assert.equal(created.statusCode, 201, created.body);
    const { id } = created.json() as { id: number };
    assert.equal(((await app.inject({ url: `/quotes/${id}` })).json() as Quote).quote, text);
  }
  // A surrogate pair written as escapes is one well-formed character.
  const escaped = await app.inject({
    method: 'POST',
    url: '/quotes',
    payload: '{"user_id":"0","quote":"Ancre \\ud83d\\udea2"}',
    headers: { ...ADMIN, 'content-type': 'application/json' },
  });
  assert.equal(escaped.statusCode, 201, escaped.body);
  const { id } = escaped.json() as { id: number };
  assert.equal(((await app.inject({ url: `/quotes/${id}` })).json() as Quote).quote, 'Ancre 🚢');
});

for (const [what, payload] of [
  ['an empty quote', { quote: '' }],
  ['a blank quote', { quote: '  \u00A0 ' }],
  ['no quote', {}],
] as const) {
  test(`PUT /quotes/:id → 400 with the exact body for ${what}`, async (t) => {
    const { app } = await setup(t);
    const res = await app.inject(json('PUT', '/quotes/1', payload, ADMIN));
    assert.equal(res.statusCode, 400);
    assert.deepEqual(res.json(), { error: 'quote est requis' });
    assert.equal(((await app.inject({ url: '/quotes/1' })).json() as Quote).quote, 'Accapareur');
  });
}

test('PUT /quotes/:id → 400 for a quote of the wrong type or too long', async (t) => {
  const { app } = await setup(t);
  const wrongType = await app.inject(json('PUT', '/quotes/1', { quote: 123 }, ADMIN));
  assert.equal(wrongType.statusCode, 400);
  assert.deepEqual(wrongType.json(), { error: "'quote' doit être de type string" });
  const tooLong = await app.inject(json('PUT', '/quotes/1', { quote: 'a'.repeat(1001) }, ADMIN));
  assert.equal(tooLong.statusCode, 400);
  assert.deepEqual(tooLong.json(), { error: "'quote' doit faire au plus 1000 caractères" });
});

test('PUT /quotes/:id → 401 without a token', async (t) => {
  const { app } = await setup(t);
  const res = await app.inject(json('PUT', '/quotes/1', { quote: 'x' }));
  assert.equal(res.statusCode, 401);
  assert.deepEqual(res.json(), { error: 'Authentification requise' });
});

// ---------------------------------------------------------------- DELETE /quotes/:id

test('DELETE /quotes/:id → 200 with the exact body for its author, then 404 with the exact body', async (t) => {
  const { app, tokenOf } = await setup(t);
  const token = await tokenOf(alice);
  const id = await aliceQuote(app, token);
  const res = await app.inject({ method: 'DELETE', url: `/quotes/${id}`, headers: auth(token) });
  assert.equal(res.statusCode, 200);
  assert.deepEqual(res.json(), { message: 'Citation supprimée' });
  const gone = await app.inject({ url: `/quotes/${id}` });
  assert.equal(gone.statusCode, 404);
  assert.deepEqual(gone.json(), { error: 'Citation non trouvée' });
  const again = await app.inject({ method: 'DELETE', url: `/quotes/${id}`, headers: auth(token) });
  assert.equal(again.statusCode, 404);
  assert.deepEqual(again.json(), { error: 'Citation non trouvée' });
});

test('DELETE /quotes/:id → 200 with Content-Type: application/json and an empty body: a route without a body ignores it', async (t) => {
  const { app, prefix } = await setup(t);
  for (const [id, headers] of [
    [1, { 'content-type': 'application/json' }],
    [2, { 'content-type': 'application/json', 'content-length': '0' }],
    [3, { 'content-type': 'application/json; charset=utf-8', 'transfer-encoding': 'chunked' }],
  ] as const) {
    const res = await app.inject({ method: 'DELETE', url: `/quotes/${id}`, payload: '', headers: { ...ADMIN, ...headers } });
    assert.equal(res.statusCode, 200, `${JSON.stringify(headers)}: ${res.body}`);
    assert.deepEqual(res.json(), { message: 'Citation supprimée' });
    assert.equal(await redis.hexists(`${prefix}quotes`, String(id)), 0, `quote ${id} deleted`);
  }
});

test('DELETE /quotes/:id → 404 when unknown', async (t) => {
  const { app } = await setup(t);
  const res = await app.inject({ method: 'DELETE', url: '/quotes/9999', headers: ADMIN });
  assert.equal(res.statusCode, 404);
  assert.deepEqual(res.json(), { error: 'Citation non trouvée' });
});

test("DELETE /quotes/:id → 403 with the exact body for another user's quote", async (t) => {
  const { app, tokenOf } = await setup(t);
  const id = await aliceQuote(app, await tokenOf(alice));
  const res = await app.inject({ method: 'DELETE', url: `/quotes/${id}`, headers: auth(await tokenOf(bob)) });
  assert.equal(res.statusCode, 403);
  assert.deepEqual(res.json(), { error: "Vous n'êtes pas l'auteur de cette citation" });
  assert.equal((await app.inject({ url: `/quotes/${id}` })).statusCode, 200);
});

test('DELETE /quotes/:id → 403 for a user on a seed quote', async (t) => {
  const { app, tokenOf } = await setup(t);
  const res = await app.inject({ method: 'DELETE', url: '/quotes/1', headers: auth(await tokenOf(alice)) });
  assert.equal(res.statusCode, 403);
  assert.deepEqual(res.json(), { error: "Vous n'êtes pas l'auteur de cette citation" });
  assert.equal((await app.inject({ url: '/quotes/1' })).statusCode, 200);
});

test("DELETE /quotes/:id → an admin may delete a seed quote and a user's quote", async (t) => {
  const { app, tokenOf } = await setup(t);
  const id = await aliceQuote(app, await tokenOf(alice));
  for (const target of [1, id]) {
    const res = await app.inject({ method: 'DELETE', url: `/quotes/${target}`, headers: ADMIN });
    assert.equal(res.statusCode, 200, String(target));
    assert.equal((await app.inject({ url: `/quotes/${target}` })).statusCode, 404);
  }
  // 415 seed quotes + Alice's − the two deleted.
  assert.equal((await app.inject({ url: '/quotes' })).headers['x-total-count'], '414');
});

test('DELETE /quotes/:id → 400 for an id that is not a number', async (t) => {
  const { app } = await setup(t);
  const res = await app.inject({ method: 'DELETE', url: '/quotes/abc', headers: ADMIN });
  assert.equal(res.statusCode, 400);
  assert.deepEqual(res.json(), { error: 'Identifiant de citation invalide' });
});

test('DELETE /quotes/:id → 401 without a token', async (t) => {
  const { app } = await setup(t);
  const res = await app.inject({ method: 'DELETE', url: '/quotes/1' });
  assert.equal(res.statusCode, 401);
  assert.deepEqual(res.json(), { error: 'Authentification requise' });
});

// ---------------------------------------------------------------- change stream and generation

/** The newest entry of the change stream, as its fields. */
async function lastChange(prefix: string): Promise<Record<string, string> | undefined> {
  const [entry] = (await redis.xrevrange(`${prefix}quotes:changes`, '+', '-', 'COUNT', 1)) as Array<[string, string[]]>;
  if (entry === undefined) return undefined;
  const fields: Record<string, string> = {};
  for (let i = 0; i < entry[1].length; i += 2) fields[entry[1][i] as string] = entry[1][i + 1] as string;
  return fields;
}

test('every write appends exactly one change to the stream, with the data; a refused one appends none', async (t) => {
  const { prefix, app, tokenOf } = await setup(t);
  const changes = () => redis.xlen(`${prefix}quotes:changes`);
  const generation = await redis.get(`${prefix}quotes:generation`);
  assert.equal(await changes(), 0, 'seeding records no change (it moves the generation)');

  // Bob's quote (Alice, id 0, is refused on it below).
  await app.inject(json('POST', '/quotes', { user_id: '1', quote: 'Tonnerre de Brest' }, ADMIN));
  assert.equal(await changes(), 1);
  const put = await lastChange(prefix);
  assert.deepEqual([put?.op, put?.id], ['put', '416']);
  assert.deepEqual(JSON.parse(put?.quote ?? '{}'), JSON.parse((await redis.hget(`${prefix}quotes`, '416')) ?? ''));

  await app.inject(json('PUT', '/quotes/416', { quote: 'Sapristi' }, ADMIN));
  assert.equal(await changes(), 2);
  const updated = await lastChange(prefix);
  assert.deepEqual([updated?.op, updated?.id, JSON.parse(updated?.quote ?? '{}').quote], ['put', '416', 'Sapristi']);

  // Refused or failed writes: not the owner, unknown id, empty text. None records a change.
  const token = await tokenOf(alice);
  assert.equal((await app.inject(json('PUT', '/quotes/416', { quote: 'x' }, auth(token)))).statusCode, 403);
  assert.equal((await app.inject({ method: 'DELETE', url: '/quotes/416', headers: auth(token) })).statusCode, 403);
  assert.equal((await app.inject({ method: 'DELETE', url: '/quotes/9999', headers: ADMIN })).statusCode, 404);
  assert.equal((await app.inject(json('PUT', '/quotes/9999', { quote: 'x' }, ADMIN))).statusCode, 404);
  assert.equal((await app.inject(json('POST', '/quotes', { user_id: '0', quote: '   ' }, ADMIN))).statusCode, 400);
  assert.equal(await changes(), 2);

  await app.inject({ method: 'DELETE', url: '/quotes/416', headers: ADMIN });
  assert.equal(await changes(), 3);
  const deleted = await lastChange(prefix);
  assert.deepEqual(deleted, { op: 'del', id: '416' });
  assert.equal(await redis.zscore(`${prefix}quotes:ids`, '416'), null, 'the id index follows the delete');
  assert.equal(await redis.get(`${prefix}quotes:generation`), generation, 'writes in the stream leave the generation');
});

test('a catalogue emptied and refilled gets a new generation, past the old one', async (t) => {
  const { prefix, app } = await setup(t);
  const store = new QuoteStore(redis, prefix);
  const before = await store.generation();
  // The database loses everything (a Redis restarted without persistence), then gets new data.
  await redis.del(...Object.values(store.keys));
  const response = await app.inject(json('POST', '/quotes', { user_id: '0', quote: 'Nouvelle donne' }, ADMIN));
  assert.equal(response.statusCode, 201);
  const after = await store.generation();
  assert.ok(BigInt(after) > BigInt(before), `${after} should be past ${before}`);
  assert.equal(await store.generation(), after, 'created once, then stable');
  const list = await app.inject({ url: '/quotes' });
  assert.deepEqual(
    list.json<Quote[]>().map((q) => q.quote),
    ['Nouvelle donne'],
  );
});
