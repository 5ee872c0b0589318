import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { FastifyBaseLogger } from 'fastify';
import { parseCron } from '../../src/ops/schedule/cron.ts';
import { loadConfig } from '../../src/services/ops/config.ts';
import { CronRunner } from '../../src/services/ops/scheduler.ts';

const cases: [string, string, string][] = [
  ['0 2 * * *', '2026-11-26T01:59:00Z', '2026-11-26T02:00:00Z'],
  ['0 2 * * *', '2026-11-26T02:00:00Z', '2026-11-27T02:00:00Z'],
  ['*/15 * * * *', '2026-11-26T10:07:30Z', '2026-11-26T10:15:00Z'],
  ['30 8-18/2 * * 1-5', '2026-11-27T18:31:00Z', '2026-11-30T08:30:00Z'],
  ['0 0 29 2 *', '2026-03-01T00:00:00Z', '2028-02-29T00:00:00Z'],
  ['0 12 * * 7', '2026-11-26T00:00:00Z', '2026-11-29T12:00:00Z'],
  ['0 0 1 * 1', '2026-11-26T00:00:00Z', '2026-11-30T00:00:00Z'],
  ['5,35 * * * *', '2026-11-26T10:05:00Z', '2026-11-26T10:35:00Z'],
  ['0 3 * * MON', '2026-11-26T00:00:00Z', '2026-11-30T03:00:00Z'],
];

for (const [expression, from, expected] of cases) {
  test(`"${expression}" after ${from} → ${expected} (UTC)`, () => {
    assert.equal(parseCron(expression).next(new Date(from)).toISOString(), new Date(expected).toISOString());
  });
}

const refused = [
  '',
  '* * * *',
  '0 0 * * * *', // six fields: seconds are not part of a schedule here
  '2030-01-01T00:00:00', // croner would take a date as a one-off run
  '60 * * * *',
  '* 24 * * *',
  '*/0 * * * *',
  'a * * * *',
  '5-1 * * * *',
  '* * 0 * *',
  '0 0 30 2 *', // never runs
];
for (const bad of refused) {
  test(`"${bad}" is refused with a message`, () => {
    assert.throws(() => parseCron(bad), /^Error: cron/);
  });
}

test('BACKUP_SCHEDULE: a bad expression is listed with the other configuration problems', () => {
  assert.throws(
    () => loadConfig({ BACKUP_SCHEDULE: '61 2 * * *', ALERT_WEBHOOK_TOKEN: 'short' }),
    (err: Error) => /BACKUP_SCHEDULE: cron/.test(err.message) && /ALERT_WEBHOOK_TOKEN/.test(err.message),
  );
  assert.equal(loadConfig({ BACKUP_SCHEDULE: '30 1 * * *' }).backupSchedule, '30 1 * * *');
});

/** A logger that keeps what it is told at warn and error. */
function recordingLog() {
  const lines: [string, string][] = [];
  const log = {
    warn: (_data: unknown, msg: string) => lines.push(['warn', msg]),
    error: (_data: unknown, msg: string) => lines.push(['error', msg]),
  } as unknown as FastifyBaseLogger;
  return { log, lines };
}

test('CronRunner runs the job at each matching minute (UTC), skips a run while one is still going, logs a failure', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: Date.parse('2026-11-26T09:59:30.000Z') });
  const { log, lines } = recordingLog();
  const runs: string[] = [];
  let release: () => void = () => undefined;
  let fail = false;
  const runner = new CronRunner(
    '*/5 * * * *',
    async () => {
      runs.push(new Date().toISOString());
      if (fail) throw new Error('disk full');
      await new Promise<void>((resolve) => {
        release = resolve;
      });
    },
    log,
  );
  t.after(() => runner.stop());
  assert.equal(runner.nextRun().toISOString(), '2026-11-26T10:00:00.000Z');
  runner.start();
  const advance = async (ms: number) => {
    // Step by step: croner arms its next timer when one fires.
    for (let step = 0; step < ms; step += 1_000) {
      t.mock.timers.tick(1_000);
      await new Promise((resolve) => setImmediate(resolve));
    }
  };
  await advance(29_000);
  assert.deepEqual(runs, [], 'not before 10:00');
  await advance(2_000);
  assert.deepEqual(runs, ['2026-11-26T10:00:00.000Z']);
  await advance(5 * 60_000);
  assert.equal(runs.length, 1, 'the 10:05 run is skipped: the 10:00 one still runs');
  assert.deepEqual(lines, [['warn', 'scheduled job still running, skipping this run']]);
  release();
  fail = true;
  await advance(5 * 60_000);
  assert.equal(runs.length, 2, runs.join(' '));
  assert.equal(runs[1], '2026-11-26T10:10:00.000Z');
  assert.deepEqual(lines.at(-1), ['error', 'scheduled job failed']);
  runner.stop();
  await advance(10 * 60_000);
  assert.equal(runs.length, 2, 'nothing runs once stopped');
});
