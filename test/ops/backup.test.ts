import assert from 'node:assert/strict';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { type Env, EnvReader, readRedisConfig, readRedisKeyPrefix } from '../../src/lib/config/index.ts';
import { AppError } from '../../src/lib/errors/index.ts';
import {
  type BackupManifest,
  backupLockKey,
  backupSucceeded,
  listBackups,
  lockBackups,
  planRetention,
  pruneBackups,
  restoreBackup,
  startScratchRedis,
  takeBackup,
  takeInventory,
  verifyBackup,
} from '../../src/ops/backup/index.ts';
import { type OpsConfig, readOpsConfig } from '../../src/ops/config.ts';
import { QuoteStore } from '../../src/services/quotes/quote-store.ts';
import { login, quotesApp, SEED_QUOTE_COUNT, SEED_USERS, usersApp } from '../helpers/apps.ts';
import { type PrivateRedis, scanKeys, startPrivateRedis, uniquePrefix } from '../helpers/redis.ts';

const PREFIX = 'haddock:';

/** The operations settings as an entry point reads them: one reader, Redis included. */
function opsConfig(env: Env): OpsConfig {
  const reader = new EnvReader(env);
  const config = readOpsConfig(reader, {
    redis: readRedisConfig(reader, { url: 'redis://127.0.0.1:6379' }),
    redisKeyPrefix: readRedisKeyPrefix(reader),
  });
  reader.done();
  return config;
}

describe('backups of a populated platform database', () => {
  let redis: PrivateRedis;
  let client: Redis;
  let dir: string;
  let config: OpsConfig;

  before(async () => {
    redis = await startPrivateRedis();
    client = new Redis(redis.url);
    dir = await mkdtemp(join(tmpdir(), 'haddock-backups-'));
    config = opsConfig({ REDIS_URL: redis.url, REDIS_KEY_PREFIX: PREFIX, BACKUP_DIR: dir });
    // Seed through the real services, and log in once so a session key (with a TTL) exists.
    const users = await usersApp({ prefix: PREFIX, redisUrl: redis.url });
    const quotes = await quotesApp({ prefix: PREFIX, redisUrl: redis.url });
    const [alice] = SEED_USERS;
    await login(users, alice.name, alice.password);
    await Promise.all([users.close(), quotes.close()]);
    // Another tenant of the same Redis: never counted, never touched by a restore.
    await client.set('other-app:key', 'theirs');
  });

  after(async () => {
    client?.disconnect();
    await redis?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('a backup describes exactly the live keys of the platform, and its restore drill passes', {
    timeout: 60_000,
  }, async () => {
    const live = await takeInventory(client, PREFIX);
    const manifest = await takeBackup(config, { kind: 'manual' });
    assert.equal(manifest.keys.total, live.total);
    assert.deepEqual(manifest.keys.by_type, live.byType);
    assert.equal(manifest.content_digest, live.contentDigest);
    assert.equal(manifest.keys.by_type.hash, 3, 'quotes, users and the name index');
    assert.equal(manifest.source, `127.0.0.1:${redis.port}`);
    assert.match(manifest.redis_version, /^\d+\.\d+/);
    assert.match(manifest.sha256, /^[0-9a-f]{64}$/);
    assert.ok(manifest.bytes > 10_000, 'the RDB of 415 quotes is not tiny');

    const verified = await verifyBackup(config, manifest.id);
    assert.deepEqual(verified.verification?.problems, []);
    assert.equal(verified.verification?.ok, true);
    const [listed] = await listBackups(config);
    assert.equal(listed?.verification?.ok, true, 'the drill result is recorded in the manifest');
  });

  test('the disk-based transfer (no diskless replication) gives the same content', { timeout: 60_000 }, async () => {
    await client.config('SET', 'repl-diskless-sync', 'no');
    try {
      const manifest = await takeBackup(config);
      assert.equal(manifest.content_digest, (await takeInventory(client, PREFIX)).contentDigest);
    } finally {
      await client.config('SET', 'repl-diskless-sync', 'yes');
    }
  });

  test('restore after damage puts every key back, keeps a safety backup and reports the changes', {
    timeout: 60_000,
  }, async () => {
    const good = await takeBackup(config);
    const before = await takeInventory(client, PREFIX);
    // Damage: quotes lost, a user hash gone, a quote rewritten, junk added.
    await client.hdel(`${PREFIX}quotes`, '1', '2', '3', '4', '5');
    await client.del(`${PREFIX}users`);
    await client.hset(`${PREFIX}quotes`, '48', JSON.stringify({ id: 48, quote: 'vandalisme' }));
    await client.set(`${PREFIX}junk`, 'x');

    const report = await restoreBackup(config, good.id, {
      afterRestore: (live) => new QuoteStore(live, PREFIX).invalidateSnapshots(),
    });
    assert.equal(report.restored, good.id);
    assert.match(report.safety_backup, /pre-restore$/);
    assert.equal(report.added, 1, 'the users hash');
    assert.equal(report.removed, 1, 'the junk key');
    assert.ok(report.changed >= 1, 'the quotes hash');

    const after = await takeInventory(client, PREFIX);
    const versionKey = `${PREFIX}quotes:generation`;
    for (const [key, digest] of before.keys) {
      if (key !== versionKey) assert.equal(after.keys.get(key), digest, `${key} restored`);
    }
    assert.equal(after.keys.has(`${PREFIX}junk`), false);
    assert.equal(await client.hlen(`${PREFIX}quotes`), SEED_QUOTE_COUNT);
    assert.equal(await client.get('other-app:key'), 'theirs', 'keys outside the prefix are untouched');

    // The services drop their cached catalogue: a fresh app sees every quote, and login works again.
    const quotes = await quotesApp({ prefix: PREFIX, redisUrl: redis.url });
    const users = await usersApp({ prefix: PREFIX, redisUrl: redis.url });
    try {
      const list = await quotes.inject({ url: '/quotes' });
      assert.equal(list.json<unknown[]>().length, SEED_QUOTE_COUNT);
      assert.equal(list.json<{ quote: string }[]>()[47]?.quote.replace(/\s/gu, ' '), 'Blague, fumisterie et compagnie');
      const [, bob] = SEED_USERS;
      assert.ok((await login(users, bob.name, bob.password)).length >= 22);
    } finally {
      await Promise.all([quotes.close(), users.close()]);
    }
    const safety = (await listBackups(config)).find((m) => m.id === report.safety_backup);
    assert.equal(safety?.kind, 'pre-restore');
    assert.ok((safety?.keys.total ?? 0) > 0);
  });

  test('a damaged backup file fails its drill with the reason', { timeout: 60_000 }, async () => {
    const manifest = await takeBackup(config);
    const path = join(dir, manifest.file);
    const bytes = await readFile(path);
    const middle = Math.floor(bytes.length / 2);
    bytes[middle] = (bytes[middle] ?? 0) ^ 0xff;
    await writeFile(path, bytes);
    const verified = await verifyBackup(config, manifest.id);
    assert.equal(verified.verification?.ok, false);
    assert.ok(verified.verification?.problems.some((p) => /SHA-256/.test(p)));
  });

  test('restore itself refuses a damaged file before touching anything (no caller needs to check first)', {
    timeout: 60_000,
  }, async () => {
    const manifest = await takeBackup(config);
    const path = join(dir, manifest.file);
    const bytes = await readFile(path);
    for (let i = 100; i < 200; i++) bytes[i] = (bytes[i] ?? 0) ^ 0xff;
    await writeFile(path, bytes);
    await client.set(`${PREFIX}since-the-backup`, 'kept');
    const backupsBefore = (await listBackups(config)).length;
    let hookRan = false;

    await assert.rejects(
      restoreBackup(config, manifest.id, {
        afterRestore: async () => {
          hookRan = true;
        },
      }),
      (err: unknown) => err instanceof AppError && err.code === 'BACKUP_DRILL_FAILED' && /SHA-256 differs/.test(err.detail ?? ''),
    );
    assert.equal(await client.get(`${PREFIX}since-the-backup`), 'kept', 'the live data was not touched');
    assert.equal((await listBackups(config)).length, backupsBefore, 'no safety backup was taken');
    assert.equal(hookRan, false);
    await client.del(`${PREFIX}since-the-backup`);
  });

  test('restore refuses a file whose content does not match its manifest (the drill, in the library)', {
    timeout: 60_000,
  }, async () => {
    const manifest = await takeBackup(config);
    // An intact file but a manifest that describes other data: the checksum passes, the drill must not.
    const tampered = { ...manifest, keys: { ...manifest.keys, by_type: { ...manifest.keys.by_type, hash: 99 } } };
    await writeFile(join(dir, `${manifest.id}.json`), JSON.stringify(tampered));
    await client.set(`${PREFIX}since-the-backup`, 'kept');
    await assert.rejects(
      restoreBackup(config, manifest.id),
      (err: unknown) =>
        err instanceof AppError &&
        err.code === 'BACKUP_DRILL_FAILED' &&
        /hash keys: 3 loaded, 99 in the manifest/.test(err.detail ?? ''),
    );
    assert.equal(await client.get(`${PREFIX}since-the-backup`), 'kept', 'the live data was not touched');
    await client.del(`${PREFIX}since-the-backup`);
  });

  test('keys_after counts the restored keys only, as the manifest does, not what the post-restore hook adds', {
    timeout: 60_000,
  }, async () => {
    const versionKey = `${PREFIX}quotes:generation`;
    const version = await client.get(versionKey);
    // A backup without the generation key: the hook then creates one that is not restored data.
    await client.del(versionKey);
    try {
      const manifest = await takeBackup(config);
      assert.equal(
        (await takeInventory(client, PREFIX)).keys.has(versionKey),
        false,
        'the backup was taken without the generation key',
      );
      let seen: number | undefined;
      const report = await restoreBackup(config, manifest.id, {
        afterRestore: async (live) => {
          seen = (await takeInventory(live, PREFIX, { exclude: [backupLockKey(PREFIX)] })).total;
          await new QuoteStore(live, PREFIX).invalidateSnapshots();
        },
      });
      assert.equal(seen, manifest.keys.total, 'the hook runs on the live Redis once every key is back');
      assert.ok(await client.exists(versionKey), 'the hook bumped the catalogue generation');
      assert.equal(report.keys_after, manifest.keys.total);
      assert.equal((await takeInventory(client, PREFIX)).total, manifest.keys.total + 1);
    } finally {
      if (version !== null) await client.set(versionKey, version);
    }
  });

  test('large keys are restored in chunks and swapped in whole: contents exact, no staging key left', {
    timeout: 60_000,
  }, async () => {
    const big = { hash: `${PREFIX}big:hash`, zset: `${PREFIX}big:zset`, set: `${PREFIX}big:set` };
    const fill = client.pipeline();
    for (let i = 0; i < 5_000; i++) fill.hset(big.hash, String(i), `value ${i}`);
    for (let i = 0; i < 3_000; i++) fill.zadd(big.zset, i, `m${i}`);
    for (let i = 0; i < 2_500; i++) fill.sadd(big.set, `s${i}`);
    await fill.exec();
    try {
      const good = await takeBackup(config);
      const before = await takeInventory(client, PREFIX);
      await client.hdel(big.hash, '0', '1', '4999');
      await client.hset(big.hash, 'extra', 'x');
      await client.zrem(big.zset, 'm10');
      await client.del(big.set);
      await restoreBackup(config, good.id);
      const after = await takeInventory(client, PREFIX);
      for (const key of Object.values(big)) assert.equal(after.keys.get(key), before.keys.get(key), `${key} restored exactly`);
      assert.equal(await client.hlen(big.hash), 5_000);
      assert.deepEqual(await scanKeys(client, `${PREFIX}*:restoring`), [], 'no staging key left');
    } finally {
      await client.del(...Object.values(big));
    }
  });
});

describe('one backup, drill, restore or prune at a time (the backup lock)', () => {
  let redis: PrivateRedis;
  let client: Redis;
  let dir: string;
  let config: OpsConfig;
  const lockKey = backupLockKey(PREFIX);

  before(async () => {
    redis = await startPrivateRedis();
    client = new Redis(redis.url);
    dir = await mkdtemp(join(tmpdir(), 'haddock-backup-lock-'));
    config = opsConfig({ REDIS_URL: redis.url, REDIS_KEY_PREFIX: PREFIX, BACKUP_DIR: dir });
    const quotes = await quotesApp({ prefix: PREFIX, redisUrl: redis.url });
    await quotes.close();
  });

  after(async () => {
    client?.disconnect();
    await redis?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const refused = (err: unknown) => err instanceof AppError && err.code === 'BACKUP_IN_PROGRESS' && err.statusCode === 409;
  const drillDirs = async () => (await readdir(tmpdir())).filter((name) => name.startsWith('haddock-drill-'));

  test('two backups started together: one is taken and drilled, the other refused at once with BACKUP_IN_PROGRESS', {
    timeout: 60_000,
  }, async () => {
    const tmpBefore = await drillDirs();
    const results = await Promise.allSettled([
      takeBackup(config, { kind: 'manual', verify: true }),
      takeBackup(config, { kind: 'manual', verify: true }),
    ]);
    const done = results.filter((r) => r.status === 'fulfilled');
    const failed = results.filter((r) => r.status === 'rejected');
    assert.equal(done.length, 1, JSON.stringify(results.map((r) => r.status)));
    assert.equal(failed.length, 1);
    assert.ok(refused(failed[0]?.reason), String(failed[0]?.reason));
    assert.equal(done[0]?.value.verification?.ok, true, done[0]?.value.verification?.problems.join('; '));
    assert.equal(await client.exists(lockKey), 0, 'the lock is released');
    // Nothing but the backup's own two files, and no scratch folder anywhere.
    const id = done[0]?.value.id ?? '';
    assert.deepEqual((await readdir(dir)).sort(), [`${id}.json`, `${id}.rdb`]);
    assert.deepEqual(await drillDirs(), tmpBefore);
  });

  test('ids are unique within one millisecond, sortable by time; a backup with an old-style id still lists and drills', {
    timeout: 60_000,
  }, async () => {
    const now = new Date('2026-11-26T02:00:00.123Z');
    const a = await takeBackup(config, { now });
    const b = await takeBackup(config, { now });
    assert.notEqual(a.id, b.id);
    assert.notEqual(a.file, b.file);
    for (const m of [a, b]) assert.match(m.id, /^redis-20261126T020000123Z-[0-9a-f]{6}$/);
    assert.ok('redis-20261126T020000999Z-000000' < 'redis-20261126T020001000Z-ffffff', 'fixed width: ids sort by time');

    const old = 'redis-20200101T000000Z';
    await copyFile(join(dir, a.file), join(dir, `${old}.rdb`));
    await writeFile(
      join(dir, `${old}.json`),
      JSON.stringify({ ...a, id: old, file: `${old}.rdb`, created_at: '2020-01-01T00:00:00.000Z' }),
    );
    assert.ok((await listBackups(config)).some((m) => m.id === old));
    assert.equal((await verifyBackup(config, old)).verification?.ok, true);
  });

  test('while the lock is held, backup, drill, restore and prune are refused at once and touch nothing', {
    timeout: 60_000,
  }, async () => {
    const [existing] = await listBackups(config);
    assert.ok(existing, 'needs a backup of the previous tests');
    const before = (await readdir(dir)).sort();
    await client.set(`${PREFIX}since-the-backup`, 'kept');
    await lockBackups(config, 'test', async () => {
      const started = Date.now();
      await assert.rejects(takeBackup(config, { verify: true }), refused);
      await assert.rejects(verifyBackup(config, existing.id), refused);
      await assert.rejects(restoreBackup(config, existing.id), refused);
      await assert.rejects(pruneBackups(config), refused);
      assert.ok(Date.now() - started < 5_000, 'refused at once, not after waiting');
      assert.equal((await pruneBackups(config, { dryRun: true })).keep.length > 0, true, 'a dry run only reads');
    });
    assert.deepEqual((await readdir(dir)).sort(), before);
    assert.equal(await client.get(`${PREFIX}since-the-backup`), 'kept');
    await client.del(`${PREFIX}since-the-backup`);
  });

  test('the lock key is in no manifest, and a restore neither brings back the old lock nor removes the live one', {
    timeout: 60_000,
  }, async () => {
    // Taken under the lock, so the snapshot file holds a lock key (with that backup's token).
    const manifest = await takeBackup(config);
    const scratch = await startScratchRedis(join(dir, manifest.file), config.redisServer, dir);
    let fileToken: string | null;
    try {
      fileToken = await scratch.client.get(lockKey);
      assert.equal((await takeInventory(scratch.client, PREFIX)).total, manifest.keys.total + 1, 'the file has the lock key');
    } finally {
      await scratch.stop();
    }
    assert.notEqual(fileToken, null);
    assert.equal(
      manifest.keys.by_type.string,
      (await takeInventory(client, PREFIX)).byType.string,
      'the manifest does not count it',
    );

    let during: string | null = null;
    await restoreBackup(config, manifest.id, {
      afterRestore: async (live) => {
        during = await live.get(lockKey);
      },
    });
    assert.ok(during !== null, 'the restore kept its own live lock');
    assert.notEqual(during, fileToken, 'the old lock was not brought back');
    assert.equal(await client.exists(lockKey), 0, 'released by its holder at the end');
  });

  test('a lock expires when its holder dies; a holder never deletes a lock that is no longer its own', async () => {
    await client.set(lockKey, 'backup deadhost:1 x', 'PX', 200);
    await assert.rejects(pruneBackups(config), refused);
    await new Promise((resolve) => setTimeout(resolve, 300));
    await lockBackups(config, 'test', async (lock) => {
      // Someone took the key over (the holder stalled past the TTL): releasing must leave theirs alone.
      await client.set(lock.key, 'someone else');
    });
    assert.equal(await client.get(lockKey), 'someone else');
    await client.del(lockKey);
  });

  test("a crashed run's leftovers (partial file, half manifest, scratch folder) are swept by the next backup", {
    timeout: 60_000,
  }, async () => {
    await writeFile(join(dir, 'redis-20261126T020000000Z-abcdef.rdb.partial'), 'half');
    await writeFile(join(dir, 'redis-20261126T020000000Z-abcdef.json.tmp'), '{');
    await mkdir(join(dir, '.drill-crashed'));
    await writeFile(join(dir, '.drill-crashed', 'dump.rdb'), 'x');
    const manifest = await takeBackup(config, { verify: true });
    assert.equal(backupSucceeded(manifest), true);
    const names = await readdir(dir);
    assert.deepEqual(
      names.filter((n) => !/^redis-[\dTZ]+(-[0-9a-f]{6})?(-pre-restore)?\.(rdb|json)$/.test(n)),
      [],
      'only backups and their manifests',
    );
  });
});

describe('retention policy', () => {
  const day = 86_400_000;
  const now = new Date('2026-11-26T03:00:00Z');
  const backup = (daysAgo: number, ok?: boolean): BackupManifest =>
    ({
      id: `b${daysAgo}`,
      created_at: new Date(now.getTime() - daysAgo * day).toISOString(),
      ...(ok === undefined ? {} : { verification: { ok, at: '', duration_ms: 0, problems: [] } }),
    }) as BackupManifest;
  const ids = (list: readonly BackupManifest[]) => list.map((m) => m.id).sort();

  const cases: { name: string; backups: BackupManifest[]; keep: number; maxAge: number; kept: string[] }[] = [
    {
      name: 'ten daily backups, keep 7 → the 7 newest',
      backups: Array.from({ length: 10 }, (_, i) => backup(i)),
      keep: 7,
      maxAge: 30,
      kept: ['b0', 'b1', 'b2', 'b3', 'b4', 'b5', 'b6'],
    },
    {
      name: 'age limit removes old ones even under the count',
      backups: [backup(0), backup(3), backup(9), backup(20)],
      keep: 7,
      maxAge: 7,
      kept: ['b0', 'b3'],
    },
    {
      name: 'the last verified-good backup is kept even when too old and past the count',
      backups: [backup(0, false), backup(1, false), backup(12, true), backup(13, true)],
      keep: 2,
      maxAge: 7,
      kept: ['b0', 'b1', 'b12'],
    },
    { name: 'nothing to prune', backups: [], keep: 7, maxAge: 7, kept: [] },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const plan = planRetention(c.backups, { backupKeep: c.keep, backupMaxAgeDays: c.maxAge }, now);
      assert.deepEqual(ids(plan.keep), c.kept.sort());
      assert.equal(plan.keep.length + plan.remove.length, c.backups.length);
    });
  }

  test('prune deletes the files of removed backups and --dry-run deletes nothing', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'haddock-prune-'));
    try {
      // Pruning holds the backup lock: a prefix of its own on the shared test Redis.
      const config = opsConfig({ BACKUP_DIR: dir, BACKUP_KEEP: '1', REDIS_KEY_PREFIX: uniquePrefix('prune') });
      for (const m of [backup(0, true), backup(1), backup(2)]) {
        await writeFile(join(dir, `${m.id}.json`), JSON.stringify({ ...m, file: `${m.id}.rdb` }));
        await writeFile(join(dir, `${m.id}.rdb`), 'x');
      }
      const dry = await pruneBackups(config, { dryRun: true, now });
      assert.deepEqual(ids(dry.remove), ['b1', 'b2']);
      assert.equal((await listBackups(config)).length, 3);
      await pruneBackups(config, { now });
      assert.deepEqual(ids(await listBackups(config)), ['b0']);
      await assert.rejects(readFile(join(dir, 'b1.rdb')));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
