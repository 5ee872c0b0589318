// End to end: the real local platform (private redis-server, three service
// processes, gateway) started on free ports, driven over HTTP through the
// gateway only, as a client of the original platform would.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadConfig, type PlatformHandle, startPlatform } from '../../src/platform/runner/index.ts';
import { platformEnv, requireRedisServer, waitHealthy } from '../helpers/platform.ts';

const ADMIN = 'e2e-admin-key-0123456789';

async function start(extra: Record<string, string>): Promise<{ platform: PlatformHandle; varDir: string }> {
  requireRedisServer();
  const varDir = mkdtempSync(join(tmpdir(), 'haddock-e2e-'));
  // Monitoring has its own end-to-end test (monitoring.test.ts).
  const env = await platformEnv(varDir, { ADMIN_KEY: ADMIN, LOG_LEVEL: 'WARNING', ...extra });
  const platform = await startPlatform(loadConfig(env));
  return { platform, varDir };
}

describe('the local platform through its gateway', () => {
  let platform: PlatformHandle;
  let varDir: string;
  let gw: string;

  const call = async (method: string, path: string, body?: unknown, token?: string) => {
    const headers: Record<string, string> = {};
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (token !== undefined) headers.authorization = token;
    const res = await fetch(`${gw}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    return { status: res.status, headers: res.headers, text, json: text ? (JSON.parse(text) as unknown) : undefined };
  };

  before(async () => {
    ({ platform, varDir } = await start({ RATE_LIMIT_PER_MINUTE: '0' }));
    gw = platform.urls.gateway;
    await waitHealthy(gw);
  });
  after(async () => {
    await platform?.stop();
    if (varDir) rmSync(varDir, { recursive: true, force: true });
  });

  test('every route of the contract answers as the original platform did', { timeout: 60_000 }, async () => {
    assert.deepEqual((await call('GET', '/')).json, { message: 'User Service Online' });
    for (const s of ['users', 'quotes', 'search']) {
      assert.deepEqual((await call('GET', `/${s}/health`)).json, { message: 'healthy' }, s);
    }
    assert.deepEqual((await call('POST', '/users/login', { name: 'Alice' })).json, { error: 'Nom et mot de passe sont requis' });
    const bad = await call('POST', '/users/login', { name: 'Alice', password: 'nope' });
    assert.equal(bad.status, 401);
    assert.deepEqual(bad.json, { error: "Nom d'utilisateur ou mot de passe incorrect" });

    const login = await call('POST', '/users/login', { name: 'Alice', password: 'inWonderland' });
    assert.equal(login.status, 200);
    const { token, user_id } = login.json as { token: string; user_id: string };
    assert.equal(user_id, '0');

    assert.equal((await call('GET', '/users')).status, 401);
    const users = (await call('GET', '/users', undefined, `Bearer ${token}`)).json as { name: string }[];
    assert.deepEqual(
      users.map((u) => u.name),
      ['Alice', 'Bob', 'Charlie'],
    );
    assert.ok(!JSON.stringify(users).includes('inWonderland'));

    const all = await call('GET', '/quotes');
    assert.equal(all.status, 200);
    assert.equal((all.json as unknown[]).length, 415);
    assert.equal(all.headers.get('x-total-count'), '415');
    const page = (await call('GET', '/quotes?limit=1&offset=47')).json as { quote: string }[];
    // The seed file writes this one with a non-breaking space after the comma.
    assert.equal(page[0]?.quote.replace(/\s/gu, ' '), 'Blague, fumisterie et compagnie');
    const random = (await call('GET', '/quotes/random')).json as { id: number };
    assert.ok(random.id >= 1 && random.id <= 415);

    assert.deepEqual((await call('POST', '/quotes', { quote: 'x' }, token)).json, { error: 'user_id et quote sont requis' });
    assert.equal((await call('POST', '/quotes', { user_id: '1', quote: 'Pas moi' }, token)).status, 403);
    const created = await call('POST', '/quotes', { user_id: '0', quote: 'Sapristi de saperlipopette' }, token);
    assert.equal(created.status, 201);
    assert.deepEqual(created.json, { message: 'Citation ajoutée', id: 416 });
    const found = await call('GET', '/search?keyword=SAPERLIPOPETTE', undefined, token);
    assert.deepEqual(found.json, ['Sapristi de saperlipopette']);
    const modified = await call('PUT', '/quotes/416', { quote: 'Saperlipopette !' }, token);
    assert.equal((modified.json as { quote: string }).quote, 'Saperlipopette !');
    const zouave = (await call('GET', '/search?keyword=zouave%20interplanetaire', undefined, token)).json as string[];
    // Typed with a plain space; the seed file writes it with a non-breaking one.
    assert.deepEqual(
      zouave.map((q) => q.replace(/\s/gu, ' ')),
      ['Zouave interplanétaire'],
    );
    assert.ok(zouave[0]?.includes('\u00a0'));
    assert.deepEqual((await call('GET', '/search?keyword=aerolithe&limit=1', undefined, token)).json, ['Aérolithe']);
    assert.deepEqual((await call('GET', '/search?keyword=xyzzy', undefined, token)).json, []);
    assert.deepEqual((await call('GET', '/search', undefined, token)).json, { error: 'Mot-clé requis' });
    assert.deepEqual((await call('DELETE', '/quotes/416', undefined, token)).json, { message: 'Citation supprimée' });
    const gone = await call('DELETE', '/quotes/416', undefined, token);
    assert.equal(gone.status, 404);
    assert.deepEqual(gone.json, { error: 'Citation non trouvée' });
    assert.equal((await call('DELETE', '/quotes/1', undefined, token)).status, 403, 'a seed quote belongs to nobody');

    assert.deepEqual((await call('POST', '/users', { name: 'Tintin', password: 'Milou-1929' }, ADMIN)).json, {
      error: 'ID et nom sont requis',
    });
    const added = await call('POST', '/users', { id: '3', name: 'Tintin', password: 'Milou-1929' }, ADMIN);
    assert.equal(added.status, 201);
    assert.deepEqual(added.json, { message: 'Utilisateur ajouté' });
    assert.equal((await call('POST', '/users', { id: '3', name: 'Haddock', password: 'Moulinsart' }, ADMIN)).status, 409);
    assert.equal((await call('POST', '/users', { id: '4', name: 'Tintin', password: 'Moulinsart' }, ADMIN)).status, 409);
    const tintin = await call('POST', '/users/login', { name: 'Tintin', password: 'Milou-1929' });
    assert.equal(tintin.status, 200);
    assert.equal((await call('POST', '/users', { id: '5', name: 'X', password: '12345678' }, token)).status, 403);
    assert.deepEqual((await call('DELETE', '/users/3', undefined, ADMIN)).json, { message: 'Utilisateur supprimé' });
    assert.equal((await call('GET', '/users', undefined, (tintin.json as { token: string }).token)).status, 401);

    assert.equal((await call('POST', '/users/logout', undefined, token)).status, 200);
    assert.equal((await call('GET', '/users', undefined, token)).status, 401);

    const missing = await call('GET', '/nowhere');
    assert.equal(missing.status, 404);
    assert.equal(typeof (missing.json as { error: string }).error, 'string');
    assert.equal((await call('GET', '/metrics')).status, 404);
  });

  test('/apidocs serves one OpenAPI page covering every route of the three services', async () => {
    const doc = (await call('GET', '/apidocs/json')).json as { openapi: string; paths: Record<string, Record<string, unknown>> };
    assert.match(doc.openapi, /^3\./);
    const expected: [string, string][] = [
      ['/', 'get'],
      ['/users/login', 'post'],
      ['/users/logout', 'post'],
      ['/users', 'get'],
      ['/users', 'post'],
      ['/users/{id}', 'delete'],
      ['/users/all', 'get'],
      ['/users/health', 'get'],
      ['/quotes', 'get'],
      ['/quotes', 'post'],
      ['/quotes/random', 'get'],
      ['/quotes/{id}', 'get'],
      ['/quotes/{id}', 'put'],
      ['/quotes/{id}', 'delete'],
      ['/quotes/health', 'get'],
      ['/search', 'get'],
      ['/search/health', 'get'],
    ];
    for (const [path, method] of expected) assert.ok(doc.paths[path]?.[method], `${method.toUpperCase()} ${path} documented`);
    const page = await fetch(`${gw}/apidocs`, { redirect: 'follow' });
    assert.equal(page.status, 200);
    assert.match(await page.text(), /swagger/i);
  });

  test('SIGTERM lets in-flight requests finish before the service exits', { timeout: 30_000 }, async () => {
    const pid = platform.pids().users;
    assert.ok(pid);
    // 12 logins, each on its own connection, whose bodies are half sent: the service holds them all (headers
    // read, body coming) before SIGTERM, with no race against how fast it answers. The bodies are finished
    // after the signal, while the service drains: every one must still be answered 200.
    const body = JSON.stringify({ name: 'Bob', password: 'squarePants' });
    const { hostname, port } = new URL(platform.urls.users);
    const logins = Array.from({ length: 12 }, () => {
      const req = httpRequest({
        host: hostname,
        port: Number(port),
        method: 'POST',
        path: '/users/login',
        agent: false,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      });
      const status = new Promise<number>((resolve, reject) => {
        req.on('response', (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        });
        req.on('error', reject);
      });
      req.write(body.slice(0, 10));
      return { req, status, sent: once(req, 'socket').then(([socket]) => once(socket as Socket, 'connect')) };
    });
    await Promise.all(logins.map((l) => l.sent));
    // Let the service read the headers of every request before it is told to stop.
    await new Promise((resolve) => setTimeout(resolve, 300));
    process.kill(pid, 'SIGTERM');
    await new Promise((resolve) => setTimeout(resolve, 300));
    for (const { req } of logins) req.end(body.slice(10));
    assert.deepEqual(await Promise.all(logins.map((l) => l.status)), Array(12).fill(200));
    // The supervisor brings the service back.
    await waitHealthy(gw);
  });
});

describe('the gateway rate limit on the real platform', () => {
  test('the 4th request in a minute from one client → 429 with Retry-After', { timeout: 60_000 }, async () => {
    const { platform, varDir } = await start({ RATE_LIMIT_PER_MINUTE: '3' });
    try {
      const statuses: number[] = [];
      let limited: Response | undefined;
      for (let i = 0; i < 4; i++) {
        const res = await fetch(`${platform.urls.gateway}/quotes/random`);
        statuses.push(res.status);
        if (res.status === 429) limited = res;
        else await res.arrayBuffer();
      }
      assert.deepEqual(statuses.slice(3), [429]);
      assert.ok(Number(limited?.headers.get('retry-after')) > 0);
      assert.deepEqual(await limited?.json(), { error: 'Trop de requêtes, réessayez plus tard' });
    } finally {
      await platform.stop();
      rmSync(varDir, { recursive: true, force: true });
    }
  });
});
