import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { metricsAppOf } from '../../src/lib/http/index.ts';
import { buildApp } from '../../src/services/ops/app.ts';
import { loadConfig } from '../../src/services/ops/config.ts';
import { ADMIN, quotesApp, testEnv } from '../helpers/apps.ts';
import { cleanPrefix, type PrivateRedis, requireRedis, startPrivateRedis, testRedisUrl, uniquePrefix } from '../helpers/redis.ts';

const WEBHOOK_TOKEN = 'webhook-token-0123456789';
const prefix = uniquePrefix('ops');
let app: FastifyInstance;
let backupDir: string;

async function opsApp(env: Record<string, string>, redisUrl?: string): Promise<FastifyInstance> {
  const built = await buildApp(
    loadConfig(
      testEnv({ prefix, redisUrl, env: { ALERT_WEBHOOK_TOKEN: WEBHOOK_TOKEN, BACKUP_SCHEDULE_ENABLED: 'false', ...env } }),
    ),
    { logger: false },
  );
  await built.ready();
  return built;
}

const alertPayload = (status: 'firing' | 'resolved', labels: Record<string, string>) => ({
  version: '4',
  status,
  alerts: [
    {
      status,
      labels: { alertname: 'ServiceDown', job: 'haddock-quotes', severity: 'critical', ...labels },
      annotations: { summary: 'quotes is down' },
      startsAt: new Date().toISOString(),
      endsAt: status === 'resolved' ? new Date().toISOString() : '0001-01-01T00:00:00Z',
      fingerprint: `fp-${labels.alertname ?? 'ServiceDown'}`,
    },
  ],
});

before(async () => {
  await requireRedis();
  backupDir = await mkdtemp(join(tmpdir(), 'haddock-ops-'));
  app = await opsApp({ BACKUP_DIR: backupDir });
});
after(async () => {
  await app?.close();
  await cleanPrefix(testRedisUrl(), prefix);
  if (backupDir) await rm(backupDir, { recursive: true, force: true });
});

describe('the operations service', () => {
  test('POST /ops/alerts → 401 without credentials or with a wrong token', async () => {
    const none = await app.inject({ method: 'POST', url: '/ops/alerts', payload: alertPayload('firing', {}) });
    assert.equal(none.statusCode, 401);
    const wrong = await app.inject({
      method: 'POST',
      url: '/ops/alerts',
      headers: { authorization: 'Bearer not-the-token' },
      payload: alertPayload('firing', {}),
    });
    assert.equal(wrong.statusCode, 401);
  });

  test('POST /ops/alerts → 400 JSON for a payload that is not Alertmanager’s', async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/ops/alerts',
      headers: { authorization: `Bearer ${WEBHOOK_TOKEN}` },
      payload: { hello: 1 },
    });
    assert.equal(res.statusCode, 400);
    assert.equal(typeof res.json().error, 'string');
  });

  test('POST /ops/alerts → 400 with the catalogue message when an alert is not an object', async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/ops/alerts',
      headers: { authorization: `Bearer ${WEBHOOK_TOKEN}` },
      payload: { version: '4', alerts: [null] },
    });
    assert.equal(res.statusCode, 400);
    assert.deepEqual(res.json(), { error: 'Charge utile Alertmanager invalide' });
  });

  test('a firing alert opens an incident; the resolved alert closes it; the report renders', async () => {
    const headers = { authorization: `Bearer ${WEBHOOK_TOKEN}` };
    const fired = await app.inject({ method: 'POST', url: '/ops/alerts', headers, payload: alertPayload('firing', {}) });
    assert.equal(fired.statusCode, 200);
    const [id] = fired.json<{ incidents: string[] }>().incidents;
    assert.match(id ?? '', /^INC-\d{4}-\d{3}$/);

    const open = await app.inject({ url: `/ops/incidents/${id}`, headers: ADMIN });
    assert.equal(open.json().status, 'open');
    assert.equal(open.json().service, 'quotes');
    assert.equal(open.json().source, 'monitoring');

    const ack = await app.inject({ method: 'POST', url: `/ops/incidents/${id}/ack`, headers: ADMIN, payload: { by: 'alice' } });
    assert.equal(ack.json().acknowledged_by, 'alice');
    const note = await app.inject({
      method: 'POST',
      url: `/ops/incidents/${id}/note`,
      headers: ADMIN,
      payload: { text: 'redémarrage du pod' },
    });
    assert.ok(note.json().timeline.some((e: { text: string }) => e.text === 'redémarrage du pod'));

    await app.inject({ method: 'POST', url: '/ops/alerts', headers, payload: alertPayload('resolved', {}) });
    const closed = await app.inject({ url: `/ops/incidents/${id}`, headers: ADMIN });
    assert.equal(closed.json().status, 'resolved');
    assert.equal(closed.json().resolved_by, 'monitoring');

    const report = await app.inject({ url: `/ops/incidents/${id}/report?lang=en`, headers: ADMIN });
    assert.match(report.headers['content-type'] as string, /text\/markdown/);
    assert.match(report.body, new RegExp(`^# Incident report - ${id}$`, 'm'));
    assert.match(report.body, /- \*\*Affected service\*\* : quotes/);
  });

  test('test alerts (label test="true") never open incidents', async () => {
    const before = (await app.inject({ url: '/ops/incidents', headers: ADMIN })).json<unknown[]>().length;
    const res = await app.inject({
      method: 'POST',
      url: '/ops/alerts',
      headers: ADMIN,
      payload: alertPayload('firing', { alertname: 'HaddockTestAlert', test: 'true' }),
    });
    assert.deepEqual(res.json(), { received: 1, incidents: [] });
    assert.equal((await app.inject({ url: '/ops/incidents', headers: ADMIN })).json<unknown[]>().length, before);
  });

  test('incidents by hand: 201, and 404 JSON for an unknown id, 400 for a malformed one', async () => {
    const created = await app.inject({
      method: 'POST',
      url: '/ops/incidents',
      headers: ADMIN,
      payload: { title: 'Recherche lente', service: 'search' },
    });
    assert.equal(created.statusCode, 201);
    assert.equal(created.json().source, 'manual');
    const unknown = [
      { method: 'GET', url: '/ops/incidents/INC-1999-999' },
      { method: 'GET', url: '/ops/incidents/INC-1999-999/report' },
      { method: 'POST', url: '/ops/incidents/INC-1999-999/ack' },
      { method: 'POST', url: '/ops/incidents/INC-1999-999/note', payload: { text: 'x' } },
      { method: 'POST', url: '/ops/incidents/INC-1999-999/resolve' },
    ] as const;
    for (const request of unknown) {
      const res = await app.inject({ ...request, headers: ADMIN });
      assert.equal(res.statusCode, 404, `${request.method} ${request.url}`);
      assert.deepEqual(res.json(), { error: 'Incident non trouvé' }, `${request.method} ${request.url}`);
    }
    assert.equal((await app.inject({ url: '/ops/incidents/nope', headers: ADMIN })).statusCode, 400);
    assert.equal(
      (await app.inject({ method: 'POST', url: '/ops/incidents', headers: ADMIN, payload: { title: 'x' } })).statusCode,
      400,
    );
  });

  test('GET /ops/kpi without Prometheus: its rows unknown, incident rows measured', async () => {
    const res = await app.inject({ url: '/ops/kpi?since=24h', headers: ADMIN });
    assert.equal(res.statusCode, 200);
    const rows = res.json<{ rows: { key: string; status: string; value: number | null }[] }>().rows;
    assert.equal(rows.find((r) => r.key === 'availability')?.status, 'unknown');
    const proactive = rows.find((r) => r.key === 'proactive_detection');
    assert.equal(proactive?.value, 50, 'one incident from monitoring, one by hand');
    assert.equal(rows.find((r) => r.key === 'backup_freshness')?.status, 'red', 'no backup yet');
    assert.equal((await app.inject({ url: '/ops/kpi?since=forever', headers: ADMIN })).statusCode, 400);
  });

  test('admin routes refuse anonymous calls', async () => {
    assert.equal((await app.inject({ url: '/ops/incidents' })).statusCode, 401);
  });
});

describe('backups through the operations service', () => {
  let redis: PrivateRedis;
  let ops: FastifyInstance;
  let dir: string;

  before(async () => {
    redis = await startPrivateRedis();
    dir = await mkdtemp(join(tmpdir(), 'haddock-ops-backups-'));
    const quotes = await quotesApp({ prefix: 'haddock:', redisUrl: redis.url });
    await quotes.close();
    ops = await buildApp(
      loadConfig(
        testEnv({ prefix: 'haddock:', redisUrl: redis.url, env: { BACKUP_DIR: dir, BACKUP_SCHEDULE_ENABLED: 'false' } }),
      ),
      { logger: false },
    );
    await ops.ready();
  });
  after(async () => {
    await ops?.close();
    await redis?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('POST /ops/backups takes a backup and runs its drill; GET lists it; the KPI turns green', {
    timeout: 60_000,
  }, async () => {
    const res = await ops.inject({ method: 'POST', url: '/ops/backups', headers: ADMIN });
    assert.equal(res.statusCode, 201);
    assert.equal(res.json().verification.ok, true);
    assert.equal(res.json().keys.by_type.hash, 1);
    const list = await ops.inject({ url: '/ops/backups', headers: ADMIN });
    assert.equal(list.json<unknown[]>().length, 1);
    const rows = (await ops.inject({ url: '/ops/kpi', headers: ADMIN })).json<{ rows: { key: string; status: string }[] }>().rows;
    assert.equal(rows.find((r) => r.key === 'backup_freshness')?.status, 'green');
    assert.equal(rows.find((r) => r.key === 'restore_drill')?.status, 'green');

    // The backup-too-old alerts read these.
    const metrics = (await metricsAppOf(ops).inject({ url: '/metrics' })).body;
    const sample = (name: string) => Number(new RegExp(`^${name}\\{[^}]*\\} (\\S+)$`, 'm').exec(metrics)?.[1]);
    const now = Date.now() / 1000;
    assert.ok(Math.abs(sample('haddock_backup_last_success_timestamp_seconds') - now) < 120, metrics);
    assert.ok(Math.abs(sample('haddock_backup_last_verified_timestamp_seconds') - now) < 120);
    assert.ok(sample('haddock_backup_last_size_bytes') > 1_000);
    assert.equal(sample('haddock_incidents_open'), 0);
  });
});
