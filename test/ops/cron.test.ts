import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseCron } from '../../src/ops/schedule/cron.ts';

const cases: [string, string, string][] = [
  ['0 2 * * *', '2026-11-26T01:59:00Z', '2026-11-26T02:00:00Z'],
  ['0 2 * * *', '2026-11-26T02:00:00Z', '2026-11-27T02:00:00Z'],
  ['*/15 * * * *', '2026-11-26T10:07:30Z', '2026-11-26T10:15:00Z'],
  ['30 8-18/2 * * 1-5', '2026-11-27T18:31:00Z', '2026-11-30T08:30:00Z'],
  ['0 0 29 2 *', '2026-03-01T00:00:00Z', '2028-02-29T00:00:00Z'],
  ['0 12 * * 7', '2026-11-26T00:00:00Z', '2026-11-29T12:00:00Z'],
  ['0 0 1 * 1', '2026-11-26T00:00:00Z', '2026-11-30T00:00:00Z'],
  ['5,35 * * * *', '2026-11-26T10:05:00Z', '2026-11-26T10:35:00Z'],
];

for (const [expression, from, expected] of cases) {
  test(`"${expression}" after ${from} → ${expected}`, () => {
    assert.equal(parseCron(expression).next(new Date(from)).toISOString(), new Date(expected).toISOString());
  });
}

for (const bad of ['', '* * * *', '60 * * * *', '* 24 * * *', '*/0 * * * *', 'a * * * *', '5-1 * * * *', '* * 0 * *']) {
  test(`"${bad}" is refused with a message`, () => {
    assert.throws(() => parseCron(bad), /cron/);
  });
}
