import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { printScorecard } from '../../src/cli/print-ops.ts';
import { AppError } from '../../src/lib/errors/index.ts';
import { freePort } from '../../src/lib/net/index.ts';
import type { BackupManifest } from '../../src/ops/backup/index.ts';
import { backupKpis } from '../../src/ops/kpi/index.ts';
import { PROMETHEUS_KPIS, parseWindow, prometheusKpis } from '../../src/ops/kpi/prometheus.ts';
import { buildScorecard } from '../../src/ops/kpi/scorecard.ts';
import { PrometheusClient } from '../../src/ops/prometheus/index.ts';

const NOW = new Date('2026-11-26T12:00:00.000Z');

test('Prometheus not configured: every Prometheus row unknown, saying so', async () => {
  const rows = await prometheusKpis(undefined, '24h', NOW);
  assert.equal(rows.length, PROMETHEUS_KPIS.length);
  for (const row of rows) {
    assert.equal(row.status, 'unknown');
    assert.equal(row.display, 'Prometheus not configured');
    assert.equal(row.note, 'PROMETHEUS_URL is not set');
  }
});

test('Prometheus configured but unreachable: every row says unreachable, with the error, not "not configured"', async () => {
  const client = new PrometheusClient(`http://127.0.0.1:${await freePort()}`, 2_000);
  const card = await buildScorecard({ window: '24h', now: NOW, prometheus: client, incidents: [], backups: [] });
  const rows = card.rows.filter((r) => r.source === 'prometheus');
  assert.equal(rows.length, PROMETHEUS_KPIS.length);
  for (const row of rows) {
    assert.equal(row.status, 'unknown');
    assert.equal(row.display, 'Prometheus unreachable');
    assert.match(row.note ?? '', /ECONNREFUSED/, 'the error says why');
  }
  const printed = printScorecard(card);
  assert.match(printed, /Prometheus unreachable: fetch failed \(ECONNREFUSED\)/, 'the human scorecard shows the reason once');
  assert.equal(printed.match(/ECONNREFUSED/g)?.length, 1);
  assert.doesNotMatch(printed, /not configured/);
});

test('Prometheus reachable: rows measured; a query it refuses makes that row alone unknown', async (t) => {
  const refused = PROMETHEUS_KPIS[1]?.expr('24h');
  const server = createServer((req, res) => {
    const query = new URL(req.url ?? '/', 'http://x').searchParams.get('query');
    res.setHeader('content-type', 'application/json');
    if (query === refused) {
      res.statusCode = 400;
      res.end(JSON.stringify({ status: 'error', error: 'parse error' }));
      return;
    }
    res.end(JSON.stringify({ status: 'success', data: { resultType: 'vector', result: [{ metric: {}, value: [0, '99.95'] }] } }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => server.close());
  const client = new PrometheusClient(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, 2_000);
  const rows = await prometheusKpis(client, '24h', NOW);
  assert.equal(rows[0]?.value, 99.95);
  assert.equal(rows[0]?.status, 'green');
  assert.equal(rows[1]?.display, 'Prometheus query failed');
  assert.match(rows[1]?.note ?? '', /parse error/);
  assert.equal(rows.filter((r) => r.status === 'unknown').length, 1);
});

const badWindows = ['0m', '0h', '0d', '-1h', '1x', '', '99999999d', '10000d', '1e3m', ' 1h', '1h ', '1.5h', '+1h', '1H'];
for (const window of badWindows) {
  test(`parseWindow(${JSON.stringify(window)}) → WINDOW_INVALID (exit 2), never another error`, () => {
    assert.throws(
      () => parseWindow(window),
      (err: unknown) => err instanceof AppError && err.code === 'WINDOW_INVALID' && err.statusCode === 400,
    );
  });
}

test('parseWindow: 1 to 9999 minutes, hours or days', () => {
  assert.deepEqual(parseWindow('30m'), { promql: '30m', ms: 1_800_000 });
  assert.deepEqual(parseWindow('24h'), { promql: '24h', ms: 86_400_000 });
  assert.equal(parseWindow('9999d').ms, 9999 * 86_400_000);
});

test('a backup whose restore drill failed is not the last successful backup', () => {
  const at = (hoursAgo: number) => new Date(NOW.getTime() - hoursAgo * 3_600_000).toISOString();
  const backup = (hoursAgo: number, ok?: boolean) =>
    ({
      id: `b${hoursAgo}`,
      created_at: at(hoursAgo),
      ...(ok === undefined ? {} : { verification: { ok, at: at(hoursAgo), duration_ms: 1, problems: [] } }),
    }) as unknown as BackupManifest;
  const freshness = (list: BackupManifest[]) => backupKpis(list, NOW).find((r) => r.key === 'backup_freshness');
  assert.equal(freshness([backup(1, false), backup(30, true)])?.value, 30);
  assert.equal(freshness([backup(1, false)])?.status, 'red');
  assert.equal(freshness([backup(2), backup(30, true)])?.value, 2, 'one not drilled yet counts');
});
