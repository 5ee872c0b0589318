import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Redis } from 'ioredis';
import { AppError } from '../../src/lib/errors/index.ts';
import { IncidentStore, parseWebhook, renderIncidentReport, type WebhookPayload } from '../../src/ops/incidents/index.ts';
import { cleanPrefix, connectRedis, requireRedis, testRedisUrl, uniquePrefix } from '../helpers/redis.ts';

const url = testRedisUrl();
const filePrefix = uniquePrefix('incidents');
let redis: Redis;
let n = 0;

before(async () => {
  await requireRedis(url);
  redis = connectRedis(url);
  await redis.connect();
});
after(async () => {
  await cleanPrefix(url, filePrefix);
  redis?.disconnect();
});

/** A store on its own prefix with a clock the test moves. */
function store(start = '2026-11-26T10:00:00.000Z') {
  let now = Date.parse(start);
  const incidents = new IncidentStore(redis, `${filePrefix}${++n}:`, () => new Date(now));
  return { incidents, advance: (minutes: number) => (now += minutes * 60_000) };
}

function payload(
  status: 'firing' | 'resolved',
  alertname: string,
  job: string,
  fingerprint: string,
  severity = 'critical',
): WebhookPayload {
  return {
    version: '4',
    groupKey: '{}:{alertname="ServiceDown"}',
    truncatedAlerts: 0,
    status,
    receiver: 'haddock-ops',
    groupLabels: { alertname },
    commonLabels: { alertname, job, severity },
    commonAnnotations: {},
    externalURL: 'http://alertmanager:9093',
    alerts: [
      {
        status,
        labels: { alertname, job, severity },
        annotations: { summary: `${alertname} on ${job}` },
        startsAt: '2026-11-26T10:00:00Z',
        endsAt: status === 'resolved' ? '2026-11-26T10:20:00Z' : '0001-01-01T00:00:00Z',
        generatorURL: 'http://prometheus:9090/graph',
        fingerprint,
      },
    ],
  };
}

async function deliver(incidents: IncidentStore, body: unknown) {
  const results = [];
  for (const { alert, service, title, serviceLabel } of parseWebhook(body))
    results.push(await incidents.recordAlert(alert, service, title, serviceLabel));
  return results;
}

describe('incidents from Alertmanager', () => {
  test('a firing alert opens an incident detected by monitoring, named INC-YYYY-NNN', async () => {
    const { incidents } = store();
    const [incident] = await deliver(incidents, payload('firing', 'ServiceDown', 'haddock-quotes', 'f1'));
    assert.equal(incident?.id, 'INC-2026-001');
    assert.equal(incident?.service, 'quotes');
    assert.equal(incident?.source, 'monitoring');
    assert.equal(incident?.status, 'open');
    assert.equal(incident?.impact, 'high');
    assert.deepEqual(
      incident?.timeline.map((e) => e.kind),
      ['opened', 'alert_firing'],
    );
  });

  test('a second alert of the same service joins the open incident; a retried webhook adds nothing', async () => {
    const { incidents } = store();
    await deliver(incidents, payload('firing', 'ServiceDown', 'haddock-quotes', 'f1'));
    await deliver(incidents, payload('firing', 'ServiceDown', 'haddock-quotes', 'f1'));
    const [joined] = await deliver(incidents, payload('firing', 'HighErrorRate', 'haddock-quotes', 'f2', 'warning'));
    assert.equal(joined?.id, 'INC-2026-001');
    assert.equal(joined?.alerts.length, 2);
    assert.equal(joined?.timeline.filter((e) => e.kind === 'alert_firing').length, 2);
    assert.equal((await incidents.list()).length, 1);
    const [other] = await deliver(incidents, payload('firing', 'ServiceDown', 'haddock-search', 'f3'));
    assert.equal(other?.id, 'INC-2026-002', 'another service, another incident');
  });

  test('the incident is resolved by monitoring when its last alert resolves', async () => {
    const { incidents, advance } = store();
    await deliver(incidents, payload('firing', 'ServiceDown', 'haddock-quotes', 'f1'));
    await deliver(incidents, payload('firing', 'HighLatency', 'haddock-quotes', 'f2', 'warning'));
    advance(20);
    const [partly] = await deliver(incidents, payload('resolved', 'HighLatency', 'haddock-quotes', 'f2'));
    assert.equal(partly?.status, 'open');
    const [done] = await deliver(incidents, payload('resolved', 'ServiceDown', 'haddock-quotes', 'f1'));
    assert.equal(done?.status, 'resolved');
    assert.equal(done?.resolved_by, 'monitoring');
    assert.equal(done?.resolved_at, '2026-11-26T10:20:00Z');
    assert.ok(done?.timeline.some((e) => e.kind === 'alert_resolved'));
    const [next] = await deliver(incidents, payload('firing', 'ServiceDown', 'haddock-quotes', 'f1'));
    assert.equal(next?.id, 'INC-2026-002', 'a new outage after resolution is a new incident');
  });

  test('a resolved alert with no open incident is ignored', async () => {
    const { incidents } = store();
    assert.deepEqual(await deliver(incidents, payload('resolved', 'ServiceDown', 'haddock-users', 'f9')), [null]);
    assert.equal((await incidents.list()).length, 0);
  });

  test('alerts delivered concurrently for one service make exactly one incident', async () => {
    const { incidents } = store();
    await Promise.all(
      Array.from({ length: 8 }, (_, i) => deliver(incidents, payload('firing', `Alert${i}`, 'haddock-quotes', `c${i}`))),
    );
    const all = await incidents.list();
    assert.equal(all.length, 1);
    assert.equal(all[0]?.alerts.length, 8);
  });

  test('a payload without an alerts array is refused', () => {
    const { alerts: _, ...noAlerts } = payload('firing', 'ServiceDown', 'haddock-quotes', 'f1');
    assert.throws(
      () => parseWebhook(noAlerts),
      (err: unknown) => err instanceof AppError && err.code === 'ALERT_PAYLOAD_INVALID' && /alerts/.test(err.detail ?? ''),
    );
  });

  // What Alertmanager never sends: each is refused whole, nothing recorded.
  const good = payload('firing', 'ServiceDown', 'haddock-quotes', 'f1');
  const [goodAlert] = good.alerts;
  const withAlert = (change: Record<string, unknown>) => ({ ...good, alerts: [{ ...goodAlert, ...change }] });
  const malformed: [string, unknown][] = [
    ['alerts that are numbers', { ...good, alerts: [1, 2] }],
    ['only an alerts array', { alerts: [1, 2] }],
    ['no alerts', { ...good, alerts: undefined }],
    ['alerts not an array', { ...good, alerts: { 0: goodAlert } }],
    ['a label that is not a string', withAlert({ labels: { alertname: 'X', port: 8080 } })],
    ['no alertname', withAlert({ labels: { job: 'haddock-quotes' } })],
    ['startsAt not a date', withAlert({ startsAt: 'not-a-date' })],
    ['startsAt on 30 February', withAlert({ startsAt: '2026-02-30T10:00:00Z' })],
    ['endsAt not a date', withAlert({ endsAt: 'tomorrow' })],
    ["an alert status 'weird'", withAlert({ status: 'weird' })],
    ["a notification status 'weird'", { ...good, status: 'weird' }],
    ['version 3', { ...good, version: '3' }],
    ['annotations not strings', withAlert({ annotations: { summary: ['x'] } })],
    ['no fingerprint', withAlert({ fingerprint: undefined })],
    ['an alert that is null', { ...good, alerts: [null] }],
    ['more than 1000 alerts', { ...good, alerts: Array.from({ length: 1_001 }, () => goodAlert) }],
    ['not an object', [good]],
  ];
  for (const [what, body] of malformed) {
    test(`a payload with ${what} is refused with ALERT_PAYLOAD_INVALID`, () => {
      assert.throws(
        () => parseWebhook(JSON.parse(JSON.stringify(body)) as unknown),
        (err: unknown) => err instanceof AppError && err.code === 'ALERT_PAYLOAD_INVALID' && err.statusCode === 400,
      );
    });
  }

  test('times with an offset, nanoseconds, and the unset endsAt are accepted', () => {
    const [parsed] = parseWebhook(withAlert({ startsAt: '2026-11-26T11:00:00.123456789+01:00', endsAt: '0001-01-01T00:00:00Z' }));
    assert.equal(parsed?.alert.starts_at, '2026-11-26T11:00:00.123456789+01:00');
    assert.equal(parsed?.alert.ends_at, undefined);
  });

  test('a service label that is not a safe name is filed under "unknown", the label kept escaped; never dropped', async () => {
    const { incidents } = store();
    const cases: [string, string][] = [
      ['../../etc', '"../../etc"'],
      ['quotes\u0000\n', '"quotes\\u0000\\n"'],
      ['\u202eevil\u2066', '"\\u202eevil\\u2066"'],
      ['x'.repeat(300), `"${'x'.repeat(200)}"`],
    ];
    for (const [label, kept] of cases) {
      const [parsed] = parseWebhook(withAlert({ labels: { alertname: 'ServiceDown', service: label, severity: 'critical' } }));
      assert.equal(parsed?.service, 'unknown', label);
      assert.equal(parsed?.serviceLabel, kept, label);
    }
    const [incident] = await deliver(incidents, withAlert({ labels: { alertname: 'ServiceDown', service: '../../etc' } }));
    assert.equal(incident?.service, 'unknown');
    assert.equal(incident?.service_label, '"../../etc"');
    assert.equal(incident?.title, 'ServiceDown on haddock-quotes', 'the summary annotation');
    assert.match(incident?.timeline[0]?.text ?? '', /service label "\.\.\/\.\.\/etc" is not a service name/);
    for (const safe of ['quotes', 'redis', 'api_gateway-2', 'A1']) {
      assert.equal(parseWebhook(withAlert({ labels: { alertname: 'X', service: safe } }))[0]?.service, safe);
    }
  });
});

describe('incidents handled by people', () => {
  test('open, acknowledge, note, resolve: each lands on the timeline with its time', async () => {
    const { incidents, advance } = store();
    const opened = await incidents.open({ title: 'Citations lentes', service: 'quotes', severity: 'warning', by: 'alice' });
    assert.equal(opened.source, 'manual');
    advance(4);
    const acked = await incidents.acknowledge(opened.id, 'bob');
    assert.equal(acked.status, 'acknowledged');
    assert.equal(acked.acknowledged_at, '2026-11-26T10:04:00.000Z');
    assert.equal((await incidents.acknowledge(opened.id, 'carol')).acknowledged_by, 'bob', 'the first acknowledgement counts');
    advance(6);
    await incidents.note(opened.id, 'Redis saturé', 'bob');
    advance(15);
    const resolved = await incidents.resolve(opened.id, 'bob');
    assert.equal(resolved.status, 'resolved');
    assert.deepEqual(
      resolved.timeline.map((e) => [e.at.slice(11, 16), e.kind]),
      [
        ['10:00', 'opened'],
        ['10:04', 'acknowledged'],
        ['10:10', 'note'],
        ['10:25', 'resolved'],
      ],
    );
    await assert.rejects(
      incidents.note('INC-2026-999', 'x', 'bob'),
      (err: unknown) => err instanceof AppError && err.code === 'INCIDENT_NOT_FOUND' && err.detail === 'no incident INC-2026-999',
    );
  });

  /** Two stores on one prefix, each on its own connection: two processes (the CLI and the ops service, say). */
  async function twoProcesses(t: { after: (fn: () => void) => void }) {
    const prefix = `${filePrefix}${++n}:`;
    const other = connectRedis(url);
    await other.connect();
    t.after(() => other.disconnect());
    const clock = () => new Date('2026-11-26T10:00:00.000Z');
    return { a: new IncidentStore(redis, prefix, clock), b: new IncidentStore(other, prefix, clock) };
  }

  test('two processes opening an incident for one service at once make one open incident', async (t) => {
    const { a, b } = await twoProcesses(t);
    const [first, second] = await Promise.all([
      a.open({ title: 'Citations lentes', service: 'quotes', severity: 'warning', by: 'alice' }),
      b.open({ title: 'Quotes en erreur', service: 'quotes', severity: 'critical', by: 'bob' }),
    ]);
    assert.equal(first.id, second.id, 'both reports name the same incident');
    const all = await a.list();
    assert.equal(all.length, 1);
    assert.equal(await redis.hget(a.keys.openByService, 'quotes'), all[0]?.id, 'the open index points at it');
    assert.deepEqual(
      all[0]?.timeline.map((e) => e.kind),
      ['opened', 'note'],
      'the second report is a note on the first',
    );
    assert.match(all[0]?.timeline[1]?.text ?? '', /^Also reported by (alice|bob): /);
  });

  test('an incident opened by hand while an alert opens one for the same service: one open incident', async (t) => {
    const { a, b } = await twoProcesses(t);
    const [manual, [alerted]] = await Promise.all([
      a.open({ title: 'Quotes KO', service: 'quotes', severity: 'critical', by: 'alice' }),
      deliver(b, payload('firing', 'ServiceDown', 'haddock-quotes', 'f1')),
    ]);
    assert.equal(manual.id, alerted?.id);
    const all = await a.list();
    assert.equal(all.length, 1);
    assert.equal(all[0]?.alerts.length, 1, 'the alert is on the one incident');
    assert.equal(await redis.hget(a.keys.openByService, 'quotes'), all[0]?.id);
  });

  test("opening by hand after the service's incident is resolved opens a new one", async () => {
    const { incidents } = store();
    const first = await incidents.open({ title: 'panne', service: 'users', severity: 'warning', by: 'a' });
    await incidents.resolve(first.id, 'a');
    const second = await incidents.open({ title: 'nouvelle panne', service: 'users', severity: 'warning', by: 'a' });
    assert.notEqual(second.id, first.id);
    assert.equal(second.status, 'open');
    assert.equal((await incidents.list()).length, 2);
  });

  test('old resolved incidents are cleaned, open ones never', async () => {
    const { incidents, advance } = store('2026-01-01T00:00:00.000Z');
    const old = await incidents.open({ title: 'ancien', service: 'users', severity: 'info', by: 'a' });
    await incidents.resolve(old.id, 'a');
    await incidents.open({ title: 'toujours ouvert', service: 'search', severity: 'info', by: 'a' });
    advance(60 * 24 * 100);
    assert.deepEqual(await incidents.deleteResolvedBefore(new Date('2026-03-01T00:00:00Z'), true), [old.id]);
    assert.equal((await incidents.list()).length, 2, 'dry run deletes nothing');
    await incidents.deleteResolvedBefore(new Date('2026-03-01T00:00:00Z'), false);
    assert.deepEqual(
      (await incidents.list()).map((i) => i.title),
      ['toujours ouvert'],
    );
  });
});

describe('incident report', () => {
  test('renders the spec template in French with the data filled in and the human parts marked', async () => {
    const { incidents, advance } = store('2024-01-15T14:30:00.000Z');
    await deliver(incidents, payload('firing', 'ServiceDown', 'haddock-quotes', 'f1'));
    advance(2);
    const [incident] = await incidents.list();
    assert.ok(incident);
    await incidents.acknowledge(incident.id, 'devops');
    advance(43);
    const resolved = await incidents.resolve(incident.id, 'devops');
    const report = renderIncidentReport(resolved, 'fr', {
      logLines: ['14:31 quotes ERROR redis unavailable'],
      metrics: { 'Taux d’erreur': '12 %' },
    });
    assert.match(report, /^# Rapport d'incident - INC-2024-001$/m);
    assert.match(report, /- \*\*Service affecté\*\* : quotes/);
    assert.match(report, /- \*\*Durée\*\* : 45 minutes/);
    assert.match(report, /- \*\*Impact\*\* : Haut/);
    assert.match(report, /- \[14:30\] : Detected by monitoring/);
    assert.match(report, /- \[14:32\] : Acknowledged by devops/);
    assert.match(report, /- \*\*Détection\*\* : Système de monitoring/);
    assert.match(report, /14:31 quotes ERROR redis unavailable/);
    assert.match(report, /Taux d’erreur : 12 %/);
    assert.match(report, /^# Revue post-incident - INC-2024-001$/m);
    assert.match(report, /## Leçons apprises\n1\. _À compléter_/);
  });

  test('renders in English, and says when no logs or metrics were found', async () => {
    const { incidents } = store();
    const incident = await incidents.open({ title: 'Slow search', service: 'search', severity: 'info', by: 'alice' });
    const report = renderIncidentReport(incident, 'en');
    assert.match(report, /^# Incident report - INC-2026-001$/m);
    assert.match(report, /- \*\*Duration\*\* : ongoing/);
    assert.match(report, /Reported by hand \(alice\)/);
    assert.match(report, /No log line at WARNING or above/);
    assert.match(report, /Prometheus unreachable/);
  });
});
