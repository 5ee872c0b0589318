import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { buildAlertSink } from '../../src/platform/alert-sink/app.ts';
import { loadConfig } from '../../src/platform/alert-sink/config.ts';

const dirs: string[] = [];
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

async function sink(): Promise<{ app: FastifyInstance; file: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'haddock-sink-'));
  dirs.push(dir);
  const config = loadConfig({ HADDOCK_VAR_DIR: dir });
  return { app: await buildAlertSink(config, { logger: false }), file: config.file };
}

interface TestAlert {
  status: 'firing' | 'resolved';
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt: string;
  generatorURL: string;
  fingerprint: string;
}

function alert(status: 'firing' | 'resolved', alertname: string, extra: Record<string, string> = {}): TestAlert {
  return {
    status,
    labels: { alertname, job: 'haddock-quotes', service: 'quotes', severity: 'critical', ...extra },
    annotations: { summary: `${alertname} on quotes` },
    startsAt: '2024-05-01T10:00:00.000Z',
    endsAt: status === 'firing' ? '0001-01-01T00:00:00Z' : '2024-05-01T10:05:00.000Z',
    generatorURL: 'http://127.0.0.1:9090/graph',
    fingerprint: `fp-${alertname}`,
  };
}

/** What Alertmanager 0.25 posts to a webhook receiver. */
function notification(alerts: TestAlert[]) {
  return {
    version: '4',
    groupKey: '{}:{alertname="ServiceDown"}',
    truncatedAlerts: 0,
    status: alerts.some((a) => a.status === 'firing') ? 'firing' : 'resolved',
    receiver: 'local-sink',
    groupLabels: { alertname: 'ServiceDown' },
    commonLabels: { alertname: 'ServiceDown' },
    commonAnnotations: {},
    externalURL: 'http://127.0.0.1:9093',
    alerts,
  };
}

describe('alert sink', () => {
  test('POST /alerts records each alert in memory and as one JSON line; GET /alerts lists them, newest last', async () => {
    const { app, file } = await sink();
    try {
      const first = await app.inject({
        method: 'POST',
        url: '/alerts',
        payload: notification([alert('firing', 'ServiceDown'), alert('firing', 'HighErrorRate')]),
      });
      assert.equal(first.statusCode, 200);
      assert.deepEqual(first.json(), { received: 2 });
      await app.inject({ method: 'POST', url: '/alerts', payload: notification([alert('resolved', 'ServiceDown')]) });

      const listed = (await app.inject({ method: 'GET', url: '/alerts' })).json() as Record<string, unknown>[];
      assert.deepEqual(
        listed.map((a) => [a.alertname, a.status]),
        [
          ['ServiceDown', 'firing'],
          ['HighErrorRate', 'firing'],
          ['ServiceDown', 'resolved'],
        ],
      );
      const last = listed[2] as Record<string, unknown>;
      assert.deepEqual(last.labels, alert('resolved', 'ServiceDown').labels);
      assert.deepEqual(last.annotations, { summary: 'ServiceDown on quotes' });
      assert.equal(last.startsAt, '2024-05-01T10:00:00.000Z');
      assert.equal(last.endsAt, '2024-05-01T10:05:00.000Z');
      assert.equal(last.fingerprint, 'fp-ServiceDown');
      assert.ok(!Number.isNaN(Date.parse(String(last.receivedAt))));

      const lines = readFileSync(file, 'utf8')
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line));
      assert.deepEqual(lines, listed);
    } finally {
      await app.close();
    }
  });

  test('GET /alerts keeps only the newest 1000 in memory; the file keeps everything', async () => {
    const { app, file } = await sink();
    try {
      const batch = (offset: number) =>
        notification(Array.from({ length: 300 }, (_, i) => alert('firing', `Alert${offset + i}`)));
      for (let offset = 0; offset < 1200; offset += 300) {
        assert.equal((await app.inject({ method: 'POST', url: '/alerts', payload: batch(offset) })).statusCode, 200);
      }
      const listed = (await app.inject({ method: 'GET', url: '/alerts' })).json() as { alertname: string }[];
      assert.equal(listed.length, 1000);
      assert.equal(listed[0]?.alertname, 'Alert200');
      assert.equal(listed.at(-1)?.alertname, 'Alert1199');
      assert.equal(readFileSync(file, 'utf8').trim().split('\n').length, 1200);
    } finally {
      await app.close();
    }
  });

  const bad: [string, { payload?: unknown; body?: string; type?: string }, number, RegExp][] = [
    ['not JSON', { body: '{"version":', type: 'application/json' }, 400, /JSON/],
    ['an empty body', { body: '', type: 'application/json' }, 400, /.+/],
    ['text/plain', { body: 'ServiceDown', type: 'text/plain' }, 415, /.+/],
    ['no alerts', { payload: { version: '4', status: 'firing' } }, 400, /alerts/],
    ['an unknown version', { payload: { ...notification([]), version: '3' } }, 400, /version/],
    [
      'an alert with a bad status',
      { payload: notification([{ ...alert('firing', 'X'), status: 'pending' as 'firing' }]) },
      400,
      /status/,
    ],
    [
      'a label that is not a string',
      { payload: notification([{ ...alert('firing', 'X'), labels: { alertname: 1 } as never }]) },
      400,
      /alertname/,
    ],
    [
      'an alert without startsAt',
      { payload: notification([{ ...alert('firing', 'X'), startsAt: undefined as never }]) },
      400,
      /startsAt/,
    ],
  ];
  for (const [what, request, status, message] of bad) {
    test(`POST /alerts with ${what} → ${status} JSON error, nothing recorded`, async () => {
      const { app } = await sink();
      try {
        const response = await app.inject({
          method: 'POST',
          url: '/alerts',
          ...(request.payload === undefined
            ? { body: request.body, headers: { 'content-type': request.type ?? 'application/json' } }
            : { payload: request.payload as object }),
        });
        assert.equal(response.statusCode, status, response.body);
        const body = response.json() as { error: string };
        assert.deepEqual(Object.keys(body), ['error']);
        assert.match(body.error, message);
        assert.deepEqual((await app.inject({ method: 'GET', url: '/alerts' })).json(), []);
      } finally {
        await app.close();
      }
    });
  }

  test('POST /alerts over 1 MiB → 413', async () => {
    const { app } = await sink();
    try {
      const huge = notification([{ ...alert('firing', 'X'), annotations: { description: 'x'.repeat(1024 * 1024) } }]);
      const response = await app.inject({ method: 'POST', url: '/alerts', payload: huge });
      assert.equal(response.statusCode, 413);
      assert.deepEqual(Object.keys(response.json()), ['error']);
    } finally {
      await app.close();
    }
  });

  test('GET /alerts/health/live answers; an unknown route is a JSON 404', async () => {
    const { app } = await sink();
    try {
      assert.equal((await app.inject({ method: 'GET', url: '/alerts/health/live' })).statusCode, 200);
      const missing = await app.inject({ method: 'GET', url: '/nowhere' });
      assert.equal(missing.statusCode, 404);
      assert.equal(typeof missing.json().error, 'string');
    } finally {
      await app.close();
    }
  });

  test('configuration: ALERT_SINK_PORT defaults to 9095 on the loopback; bad values are listed', () => {
    const config = loadConfig({ HADDOCK_VAR_DIR: '/tmp/haddock-var' });
    assert.equal(config.port, 9095);
    assert.equal(config.host, '127.0.0.1');
    assert.equal(config.file, '/tmp/haddock-var/log/alerts.jsonl');
    assert.throws(() => loadConfig({ ALERT_SINK_PORT: 'x', LOG_LEVEL: 'LOUD' }), /LOG_LEVEL[\s\S]*ALERT_SINK_PORT/);
  });
});
