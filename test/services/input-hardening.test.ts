import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { buildApp as buildOpsApp } from '../../src/services/ops/app.ts';
import { loadConfig as loadOpsConfig } from '../../src/services/ops/config.ts';
import { ADMIN, auth, login, SEED_USERS, testEnv, usersApp } from '../helpers/apps.ts';
import { cleanPrefix, requireRedis, testRedisUrl, uniquePrefix } from '../helpers/redis.ts';

// What names, incident titles and notes may not hold (issue 8, defects 9 and 10); quotes are in quotes.test.ts.
const prefix = uniquePrefix('input-hardening');
let users: FastifyInstance;
let ops: FastifyInstance;
let backupDir: string;

before(async () => {
  await requireRedis();
  backupDir = await mkdtemp(join(tmpdir(), 'haddock-input-'));
  users = await usersApp({ prefix });
  ops = await buildOpsApp(loadOpsConfig(testEnv({ prefix, env: { BACKUP_SCHEDULE_ENABLED: 'false', BACKUP_DIR: backupDir } })), {
    logger: false,
  });
  await ops.ready();
});

after(async () => {
  await users?.close();
  await ops?.close();
  await cleanPrefix(testRedisUrl(), prefix);
  if (backupDir) await rm(backupDir, { recursive: true, force: true });
});

const TEXT_INVALID = { error: 'Caractères interdits (caractères de contrôle ou de direction)' };
const UNICODE_INVALID = { error: 'Texte invalide : UTF-8 mal formé ou caractère Unicode incomplet' };

/** Characters no one-line text may hold. */
const FORBIDDEN_IN_A_LINE: ReadonlyArray<readonly [string, string]> = [
  ['NUL', '\u0000'],
  ['a newline', '\n'],
  ['a CR', '\r'],
  ['a tab', '\t'],
  ['ESC', '\u001b'],
  ['DEL', '\u007f'],
  ['a C1 NEL (U+0085)', '\u0085'],
  ['a right-to-left override (U+202E)', '\u202e'],
  ['a left-to-right embedding (U+202A)', '\u202a'],
  ['a left-to-right isolate (U+2066)', '\u2066'],
  ['a pop directional isolate (U+2069)', '\u2069'],
];

/** JSON bodies whose `field` holds bytes that are not UTF-8, or an escape that leaves a lone surrogate. */
function brokenBodies(before: string, after: string): ReadonlyArray<readonly [string, Buffer]> {
  return [
    ['a stray 0xFF byte', Buffer.concat([Buffer.from(before), Buffer.from([0xff, 0xfe]), Buffer.from(after)])],
    ['a truncated sequence', Buffer.concat([Buffer.from(before), Buffer.from([0xe2, 0x82]), Buffer.from(after)])],
    ['a lone surrogate escape', Buffer.from(`${before}\\ud800${after}`)],
  ];
}

const JSON_HEADERS = { 'content-type': 'application/json' };

describe('users: names', () => {
  test('POST /users → 400 for a name with a control or direction character, nothing created', async () => {
    for (const [what, character] of FORBIDDEN_IN_A_LINE) {
      const id = `ctl-${what.length}-${character.charCodeAt(0)}`;
      const res = await users.inject({
        method: 'POST',
        url: '/users',
        headers: ADMIN,
        payload: { id, name: `Nestor${character}Majordome`, password: 'majordome' },
      });
      assert.equal(res.statusCode, 400, `${what}: ${res.body}`);
      assert.deepEqual(res.json(), TEXT_INVALID, what);
    }
    const names = ((await users.inject({ url: '/users/all', headers: ADMIN })).json() as Array<{ name: string }>).map(
      (user) => user.name,
    );
    assert.deepEqual(
      names.filter((name) => name.startsWith('Nestor')),
      [],
    );
  });

  test('POST /users → 400 for a name in invalid UTF-8 or with a lone surrogate: no account named "���"', async () => {
    for (const [what, payload] of brokenBodies('{"id":"broken","name":"', '","password":"majordome"}')) {
      const res = await users.inject({ method: 'POST', url: '/users', headers: { ...ADMIN, ...JSON_HEADERS }, payload });
      assert.equal(res.statusCode, 400, `${what}: ${res.body}`);
      assert.deepEqual(res.json(), UNICODE_INVALID, what);
    }
    const all = (await users.inject({ url: '/users/all', headers: ADMIN })).json() as Array<{ id: string }>;
    assert.equal(
      all.find((user) => user.id === 'broken'),
      undefined,
    );
  });

  test('POST /users/login → 400 for a name with a direction override or invalid UTF-8, as for a malformed login', async () => {
    const overridden = await users.inject({
      method: 'POST',
      url: '/users/login',
      payload: { name: 'Alice\u202e', password: 'inWonderland' },
    });
    assert.equal(overridden.statusCode, 400, overridden.body);
    assert.deepEqual(overridden.json(), TEXT_INVALID);
    const [, payload] = brokenBodies('{"name":"Alice', '","password":"inWonderland"}')[0] ?? [];
    const broken = await users.inject({ method: 'POST', url: '/users/login', headers: JSON_HEADERS, payload });
    assert.equal(broken.statusCode, 400, broken.body);
    assert.deepEqual(broken.json(), UNICODE_INVALID);
  });

  test('POST /users → accented names and emoji are accepted and stored as sent', async () => {
    const name = 'Séraphin Lampion « Assurances Mondass » 🎺';
    const res = await users.inject({
      method: 'POST',
      url: '/users',
      headers: ADMIN,
      payload: { id: 'lampion', name, password: 'majordome' },
    });
    assert.equal(res.statusCode, 201, res.body);
    const all = (await users.inject({ url: '/users/all', headers: ADMIN })).json() as Array<{ id: string; name: string }>;
    assert.equal(all.find((user) => user.id === 'lampion')?.name, name);
  });
});

describe('users: an empty JSON body', () => {
  test('POST /users/logout → 200 with Content-Type: application/json and an empty body, and the token is revoked', async () => {
    const [alice] = SEED_USERS;
    for (const headers of [JSON_HEADERS, { ...JSON_HEADERS, 'content-length': '0' }]) {
      const token = await login(users, alice.name, alice.password);
      const res = await users.inject({
        method: 'POST',
        url: '/users/logout',
        payload: '',
        headers: { ...auth(token), ...headers },
      });
      assert.equal(res.statusCode, 200, res.body);
      assert.deepEqual(res.json(), { message: 'Déconnexion réussie' });
      const after = await users.inject({ url: '/users/me', headers: auth(token) });
      assert.equal(after.statusCode, 401, 'the token no longer works');
    }
  });

  test('POST /users/login with an empty JSON body → its contract 400 message still', async () => {
    for (const headers of [JSON_HEADERS, { ...JSON_HEADERS, 'content-length': '0' }]) {
      const res = await users.inject({ method: 'POST', url: '/users/login', payload: '', headers });
      assert.equal(res.statusCode, 400);
      assert.deepEqual(res.json(), { error: 'Nom et mot de passe sont requis' });
    }
  });
});

describe('ops: incident titles and notes', () => {
  const incidentCount = async () => ((await ops.inject({ url: '/ops/incidents', headers: ADMIN })).json() as unknown[]).length;

  test('POST /ops/incidents → 400 for a title with a control or direction character, no incident opened', async () => {
    const before = await incidentCount();
    for (const [what, character] of FORBIDDEN_IN_A_LINE) {
      const res = await ops.inject({
        method: 'POST',
        url: '/ops/incidents',
        headers: ADMIN,
        payload: { title: `quotes down${character}`, service: 'quotes' },
      });
      assert.equal(res.statusCode, 400, `${what}: ${res.body}`);
      assert.deepEqual(res.json(), TEXT_INVALID, what);
    }
    for (const [what, payload] of brokenBodies('{"service":"quotes","title":"down ', '"}')) {
      const res = await ops.inject({ method: 'POST', url: '/ops/incidents', headers: { ...ADMIN, ...JSON_HEADERS }, payload });
      assert.equal(res.statusCode, 400, `${what}: ${res.body}`);
      assert.deepEqual(res.json(), UNICODE_INVALID, what);
    }
    assert.equal(await incidentCount(), before);
  });

  test('POST /ops/incidents/:id/note → newlines, CR LF and tabs are kept; other controls, a lone CR and overrides are 400', async () => {
    const opened = await ops.inject({
      method: 'POST',
      url: '/ops/incidents',
      headers: ADMIN,
      payload: { title: 'Citations lentes — « quotes » à 2 s ⏱', service: 'quotes' },
    });
    assert.equal(opened.statusCode, 201, opened.body);
    const { id } = opened.json() as { id: string };
    const note = (text: string) =>
      ops.inject({ method: 'POST', url: `/ops/incidents/${id}/note`, headers: ADMIN, payload: { text } });
    const timelineLength = async () =>
      ((await ops.inject({ url: `/ops/incidents/${id}`, headers: ADMIN })).json() as { timeline: unknown[] }).timeline.length;

    const kept = 'Étapes :\n\t1. redémarrer\r\n\t2. vérifier 🚑';
    const accepted = await note(kept);
    assert.equal(accepted.statusCode, 200, accepted.body);
    assert.ok(JSON.stringify(accepted.json()).includes(JSON.stringify(kept)), 'the note is stored as sent');

    const before = await timelineLength();
    for (const [what, text] of [
      ['NUL', 'a\u0000b'],
      ['a lone CR', 'a\rb'],
      ['ESC', 'a\u001b[31mb'],
      ['a C1 NEL (U+0085)', 'a\u0085b'],
      ['a right-to-left override', 'a\u202eb'],
      ['a first strong isolate (U+2068)', 'a\u2068b'],
    ] as const) {
      const res = await note(text);
      assert.equal(res.statusCode, 400, `${what}: ${res.body}`);
      assert.deepEqual(res.json(), TEXT_INVALID, what);
    }
    assert.equal(await timelineLength(), before, 'no refused note reached the timeline');
  });

  test('POST /ops/incidents/:id/ack → 200 with Content-Type: application/json and an empty body (its body is optional)', async () => {
    const opened = await ops.inject({
      method: 'POST',
      url: '/ops/incidents',
      headers: ADMIN,
      payload: { title: 'Recherche lente', service: 'search' },
    });
    const { id } = opened.json() as { id: string };
    const res = await ops.inject({
      method: 'POST',
      url: `/ops/incidents/${id}/ack`,
      payload: '',
      headers: { ...ADMIN, ...JSON_HEADERS },
    });
    assert.equal(res.statusCode, 200, res.body);
  });
});
