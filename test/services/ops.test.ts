import assert from 'node:assert/strict';
import { chmod, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { metricsAppOf } from '../../src/lib/http/index.ts';
import { verifyBackup } from '../../src/ops/backup/index.ts';
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

/** A notification as Alertmanager 0.25 posts it to a webhook receiver (every field it always sends). */
const alertPayload = (status: 'firing' | 'resolved', labels: Record<string, string>) => ({
  version: '4',
  groupKey: '{}/{severity=~"critical|warning"}:{alertname="ServiceDown"}',
  truncatedAlerts: 0,
  status,
  receiver: 'haddock-ops',
  groupLabels: { alertname: labels.alertname ?? 'ServiceDown' },
  commonLabels: { alertname: 'ServiceDown', job: 'haddock-quotes', severity: 'critical', ...labels },
  commonAnnotations: { summary: 'quotes is down' },
  externalURL: 'http://alertmanager:9093',
  alerts: [
    {
      status,
      labels: { alertname: 'ServiceDown', job: 'haddock-quotes', severity: 'critical', ...labels },
      annotations: { summary: 'quotes is down' },
      startsAt: new Date().toISOString(),
      endsAt: status === 'resolved' ? new Date().toISOString() : '0001-01-01T00:00:00Z',
      generatorURL: 'http://prometheus:9090/graph?g0.expr=up%3D%3D0&g0.tab=1',
      fingerprint: `fp-${labels.alertname ?? 'ServiceDown'}`,
    },
  ],
});

const WEBHOOK = { authorization: `Bearer ${WEBHOOK_TOKEN}` };
const countIncidents = async () => (await app.inject({ url: '/ops/incidents', headers: ADMIN })).json<unknown[]>().length;

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

  const good = alertPayload('firing', { alertname: 'Malformed' });
  const [goodAlert] = good.alerts;
  const withAlert = (change: Record<string, unknown>) => ({ ...good, alerts: [{ ...goodAlert, ...change }] });
  const malformed: [string, unknown][] = [
    ['alerts [1, 2]', { alerts: [1, 2] }],
    ['alerts [1, 2] in an otherwise whole notification', { ...good, alerts: [1, 2] }],
    ['no alerts', { ...good, alerts: undefined }],
    ['a label that is not a string', withAlert({ labels: { alertname: 'Malformed', replicas: 3 } })],
    ['labels without alertname', withAlert({ labels: { service: 'quotes' } })],
    ['startsAt not-a-date', withAlert({ startsAt: 'not-a-date' })],
    ["status 'weird'", withAlert({ status: 'weird' })],
    ['no receiver (Alertmanager always sends one)', { ...good, receiver: undefined }],
    ['1001 alerts (the limit is 1000)', { ...good, alerts: Array.from({ length: 1_001 }, () => goodAlert) }],
  ];
  for (const [what, payload] of malformed) {
    test(`POST /ops/alerts with ${what} → 400 ALERT_PAYLOAD_INVALID, no incident opened`, async () => {
      const before = await countIncidents();
      const res = await app.inject({ method: 'POST', url: '/ops/alerts', headers: WEBHOOK, payload: payload as object });
      assert.equal(res.statusCode, 400, res.body);
      assert.deepEqual(res.json(), { error: 'Charge utile Alertmanager invalide' });
      assert.equal(await countIncidents(), before);
    });
  }

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

  // Every window the route refuses answers the catalogue's WINDOW_INVALID, never a 500 nor another message.
  for (const since of [
    '0m',
    '0h',
    '0d',
    '-1h',
    '1x',
    '',
    '99999999d',
    '10000d',
    '1e3m',
    ' 1h',
    '1h ',
    '1.5h',
    '0x1h',
    'forever',
  ]) {
    test(`GET /ops/kpi?since=${JSON.stringify(since)} → 400 WINDOW_INVALID`, async () => {
      const res = await app.inject({ url: `/ops/kpi?since=${encodeURIComponent(since)}`, headers: ADMIN });
      assert.equal(res.statusCode, 400, res.body);
      assert.deepEqual(res.json(), { error: 'Fenêtre de temps invalide (30m, 24h, 7d)' });
    });
  }
  for (const since of ['1m', '30m', '24h', '7d', '9999d']) {
    test(`GET /ops/kpi?since=${since} → 200 over that window`, async () => {
      const res = await app.inject({ url: `/ops/kpi?since=${since}`, headers: ADMIN });
      assert.equal(res.statusCode, 200, res.body);
      assert.equal(res.json().window, since);
    });
  }

  test("POST /ops/alerts with service '../../etc' → an incident under 'unknown', the label kept escaped", async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/ops/alerts',
      headers: WEBHOOK,
      payload: alertPayload('firing', { alertname: 'Traversal', service: '../../etc' }),
    });
    assert.equal(res.statusCode, 200, res.body);
    const [id] = res.json<{ incidents: string[] }>().incidents;
    const incident = (await app.inject({ url: `/ops/incidents/${id}`, headers: ADMIN })).json();
    assert.equal(incident.service, 'unknown');
    assert.equal(incident.service_label, '"../../etc"');
    await app.inject({ method: 'POST', url: `/ops/incidents/${id}/resolve`, headers: ADMIN });
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

  test('POST /ops/backups?scheduled=true runs as the schedule does (the Kubernetes CronJob): kind scheduled, then the retention', {
    timeout: 60_000,
  }, async () => {
    const own = await mkdtemp(join(tmpdir(), 'haddock-ops-scheduled-'));
    const scheduledOps = await buildApp(
      loadConfig(
        testEnv({
          prefix: 'haddock:',
          redisUrl: redis.url,
          env: { BACKUP_DIR: own, BACKUP_SCHEDULE_ENABLED: 'false', BACKUP_KEEP: '1' },
        }),
      ),
      { logger: false },
    );
    try {
      await scheduledOps.ready();
      const first = await scheduledOps.inject({ method: 'POST', url: '/ops/backups?scheduled=true', headers: ADMIN });
      assert.equal(first.statusCode, 201, first.body);
      assert.equal(first.json().kind, 'scheduled');
      const second = await scheduledOps.inject({ method: 'POST', url: '/ops/backups?scheduled=true', headers: ADMIN });
      assert.equal(second.statusCode, 201, second.body);
      const ids = (await scheduledOps.inject({ url: '/ops/backups', headers: ADMIN })).json<{ id: string }[]>().map((b) => b.id);
      assert.deepEqual(ids, [second.json().id], 'BACKUP_KEEP=1: the retention removed the first backup');
      // A manual backup (no query) applies no retention.
      assert.equal((await scheduledOps.inject({ method: 'POST', url: '/ops/backups', headers: ADMIN })).statusCode, 201);
      assert.equal((await scheduledOps.inject({ url: '/ops/backups', headers: ADMIN })).json<unknown[]>().length, 2);
      const bad = await scheduledOps.inject({ method: 'POST', url: '/ops/backups?scheduled=perhaps', headers: ADMIN });
      assert.equal(bad.statusCode, 400);
      assert.deepEqual(Object.keys(bad.json()), ['error']);
    } finally {
      await scheduledOps.close();
      await rm(own, { recursive: true, force: true });
    }
  });

  test('six POST /ops/backups at once → one 201 whose file passes a restore drill, five 409 JSON; no temporary file', {
    timeout: 60_000,
  }, async () => {
    await rm(dir, { recursive: true, force: true });
    const tmpBefore = (await readdir(tmpdir())).filter((n) => n.startsWith('haddock-drill-'));
    const answers = await Promise.all(
      Array.from({ length: 6 }, () => ops.inject({ method: 'POST', url: '/ops/backups', headers: ADMIN })),
    );
    const statuses = answers.map((a) => a.statusCode).sort();
    assert.deepEqual(statuses, [201, 409, 409, 409, 409, 409], answers.map((a) => a.body).join('\n'));
    for (const refused of answers.filter((a) => a.statusCode === 409)) {
      assert.deepEqual(refused.json(), { error: 'Une sauvegarde, une restauration ou un nettoyage est déjà en cours' });
    }
    const taken = answers.find((a) => a.statusCode === 201)?.json<{ id: string; verification: { ok: boolean } }>();
    assert.equal(taken?.verification.ok, true);
    assert.deepEqual((await readdir(dir)).sort(), [`${taken?.id}.json`, `${taken?.id}.rdb`], 'only the backup and its manifest');
    // Usable: a fresh restore drill of the file passes.
    const opsConfig = loadConfig(testEnv({ prefix: 'haddock:', redisUrl: redis.url, env: { BACKUP_DIR: dir } })).ops;
    assert.equal((await verifyBackup(opsConfig, taken?.id)).verification?.ok, true);
    assert.deepEqual(
      (await readdir(tmpdir())).filter((n) => n.startsWith('haddock-drill-')),
      tmpBefore,
      'no scratch folder in the system temporary directory',
    );
  });

  test('a backup whose drill fails → 500 BACKUP_DRILL_FAILED JSON; kept, listed as failed, counted as a failed backup', {
    timeout: 60_000,
  }, async (t) => {
    // A redis-server that loads the snapshot for its inventory, then refuses to start for the drill.
    const bin = await mkdtemp(join(tmpdir(), 'haddock-failing-drill-'));
    t.after(() => rm(bin, { recursive: true, force: true }));
    const script = join(bin, 'redis-server');
    await writeFile(
      script,
      `#!/bin/sh\nif [ -e "${bin}/started" ]; then echo 'drill refused' >&2; exit 1; fi\ntouch "${bin}/started"\nexec redis-server "$@"\n`,
    );
    await chmod(script, 0o755);
    const failing = await buildApp(
      loadConfig(
        testEnv({
          prefix: 'haddock:',
          redisUrl: redis.url,
          env: { BACKUP_DIR: dir, BACKUP_SCHEDULE_ENABLED: 'false', REDIS_SERVER_BIN: script },
        }),
      ),
      { logger: false },
    );
    t.after(() => failing.close());
    await failing.ready();
    const lastSuccess = async () => {
      const text = (await metricsAppOf(failing).inject({ url: '/metrics' })).body;
      const read = (name: string) => Number(new RegExp(`^${name}\\{[^}]*\\} (\\S+)$`, 'm').exec(text)?.[1]);
      return {
        success: read('haddock_backup_last_success_timestamp_seconds'),
        failure: read('haddock_backup_last_failure_timestamp_seconds'),
      };
    };
    const before = await lastSuccess();
    assert.ok(before.success > 0, 'the good backup of the previous test');
    assert.equal(before.failure, 0);

    const res = await failing.inject({ method: 'POST', url: '/ops/backups', headers: ADMIN });
    assert.equal(res.statusCode, 500, res.body);
    assert.deepEqual(res.json(), { error: "La restauration d'essai de la sauvegarde a échoué" });

    const [newest] = (await failing.inject({ url: '/ops/backups', headers: ADMIN })).json<
      { id: string; file: string; created_at: string; verification?: { ok: boolean; problems: string[] } }[]
    >();
    assert.equal(newest?.verification?.ok, false, 'listed, marked failed');
    assert.match(newest?.verification?.problems.join('; ') ?? '', /could not load it/);
    assert.ok((await readdir(dir)).includes(newest?.file ?? ''), 'the file is kept for inspection');
    const after = await lastSuccess();
    assert.equal(after.success, before.success, 'a failed drill is not a successful backup');
    assert.equal(after.failure, Date.parse(newest?.created_at ?? '') / 1000);
    assert.deepEqual(
      (await readdir(dir)).filter((n) => !/\.(rdb|json)$/.test(n)),
      [],
      'no scratch folder left by the failed drill',
    );
  });
});

test('loadConfig reads the webhook token and the admin key from mounted files (ALERT_WEBHOOK_TOKEN_FILE, ADMIN_KEY_FILE)', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'haddock-ops-secrets-'));
  try {
    await writeFile(join(dir, 'token'), 'a-webhook-token-from-a-file-0123\n');
    await writeFile(join(dir, 'admin'), 'an-admin-key-from-a-file-0123\n');
    const config = loadConfig({
      NODE_ENV: 'production',
      ALERT_WEBHOOK_TOKEN_FILE: join(dir, 'token'),
      ADMIN_KEY_FILE: join(dir, 'admin'),
    });
    assert.equal(config.alertWebhookToken, 'a-webhook-token-from-a-file-0123');
    assert.deepEqual(config.adminKeys, ['an-admin-key-from-a-file-0123']);
    await writeFile(join(dir, 'short'), 'short\n');
    assert.throws(() => loadConfig({ ALERT_WEBHOOK_TOKEN_FILE: join(dir, 'short') }), /ALERT_WEBHOOK_TOKEN must be at least 16/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
