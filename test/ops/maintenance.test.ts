import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Redis } from 'ioredis';
import { AppError } from '../../src/lib/errors/index.ts';
import type { AlertmanagerClient } from '../../src/ops/alertmanager-client/index.ts';
import { endMaintenance, MaintenanceStore, type MaintenanceWindow } from '../../src/ops/maintenance/index.ts';
import { cleanPrefix, connectRedis, requireRedis, testRedisUrl, uniquePrefix } from '../helpers/redis.ts';

const url = testRedisUrl();
const prefix = uniquePrefix('maintenance');
let redis: Redis;

before(async () => {
  await requireRedis(url);
  redis = connectRedis(url);
  await redis.connect();
});
after(async () => {
  await cleanPrefix(url, prefix);
  redis?.disconnect();
});

const NOW = new Date('2026-11-26T10:00:00.000Z');

function window(id: string, reason: string): MaintenanceWindow {
  return { id, start: '2026-11-26T09:30:00.000Z', end: '2026-11-26T11:00:00.000Z', reason, by: 'alice', silence_id: `s-${id}` };
}

/** An Alertmanager that records the silences it is asked to expire. */
function fakeAlertmanager() {
  const expired: string[] = [];
  const client = { expireSilence: async (id: string) => void expired.push(id) } as unknown as AlertmanagerClient;
  return { client, expired };
}

test('maintenance stop with an id prefix shared by several windows is refused, listing them; a longer prefix ends one', async () => {
  const store = new MaintenanceStore(redis, `${prefix}a:`);
  await store.save(window('3f1c2a9e-0000-4000-8000-000000000001', 'Redis upgrade'));
  await store.save(window('3f1c2a9e-0000-4000-8000-000000000002', 'node upgrade'));
  await store.save(window('7b00aa11-0000-4000-8000-000000000003', 'disk'));
  const { client, expired } = fakeAlertmanager();

  await assert.rejects(endMaintenance({ store, alertmanager: client }, '3f1c', NOW), (err: unknown) => {
    assert.ok(err instanceof AppError);
    assert.equal(err.code, 'MAINTENANCE_ID_AMBIGUOUS');
    assert.match(err.detail ?? '', /3f1c2a9e-0000-4000-8000-000000000001 \(2026-11-26T09:30:00\.000Z, Redis upgrade\)/);
    assert.match(err.detail ?? '', /3f1c2a9e-0000-4000-8000-000000000002 \(2026-11-26T09:30:00\.000Z, node upgrade\)/);
    assert.doesNotMatch(err.detail ?? '', /7b00aa11/);
    return true;
  });
  assert.deepEqual(expired, [], 'no silence expired');
  assert.ok(
    (await store.list()).every((w) => w.end === '2026-11-26T11:00:00.000Z'),
    'no window ended',
  );

  const ended = await endMaintenance({ store, alertmanager: client }, '3f1c2a9e-0000-4000-8000-000000000002', NOW);
  assert.equal(ended.reason, 'node upgrade');
  assert.equal(ended.end, NOW.toISOString());
  assert.deepEqual(expired, ['s-3f1c2a9e-0000-4000-8000-000000000002']);

  const byPrefix = await endMaintenance({ store, alertmanager: client }, '7b00', NOW);
  assert.equal(byPrefix.reason, 'disk', 'a prefix of exactly one id still works');
});

test('maintenance stop with an id that starts no window → MAINTENANCE_NOT_FOUND', async () => {
  const store = new MaintenanceStore(redis, `${prefix}b:`);
  await store.save(window('3f1c2a9e-0000-4000-8000-000000000001', 'Redis upgrade'));
  await assert.rejects(
    endMaintenance({ store, alertmanager: fakeAlertmanager().client }, 'ffff', NOW),
    (err: unknown) => err instanceof AppError && err.code === 'MAINTENANCE_NOT_FOUND',
  );
});
