import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { type Env, EnvReader, readRedisConfig, readRedisKeyPrefix } from '../../src/lib/config/index.ts';
import { AppError } from '../../src/lib/errors/index.ts';
import {
  type BackupManifest,
  listBackups,
  planRetention,
  pruneBackups,
  restoreBackup,
  takeBackup,
  takeInventory,
  verifyBackup,
} from '../../src/ops/backup/index.ts';
import { type OpsConfig, readOpsConfig } from '../../src/ops/config.ts';
import { QuoteStore } from '../../src/services/quotes/quote-store.ts';
import { login, quotesApp, SEED_QUOTE_COUNT, SEED_USERS, usersApp } from '../helpers/apps.ts';
import { type PrivateRedis, startPrivateRedis } from '../helpers/redis.ts';

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
    const versionKey = `${PREFIX}quotes:version`;
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
    const versionKey = `${PREFIX}quotes:version`;
    const version = await client.get(versionKey);
    // A backup without the version key: the hook then creates one that is not restored data.
    await client.del(versionKey);
    try {
      const manifest = await takeBackup(config);
      assert.equal(
        (await takeInventory(client, PREFIX)).keys.has(versionKey),
        false,
        'the backup was taken without the version key',
      );
      let seen: number | undefined;
      const report = await restoreBackup(config, manifest.id, {
        afterRestore: async (live) => {
          seen = (await takeInventory(live, PREFIX)).total;
          await new QuoteStore(live, PREFIX).invalidateSnapshots();
        },
      });
      assert.equal(seen, manifest.keys.total, 'the hook runs on the live Redis once every key is back');
      assert.ok(await client.exists(versionKey), 'the hook bumped the catalogue version');
      assert.equal(report.keys_after, manifest.keys.total);
      assert.equal((await takeInventory(client, PREFIX)).total, manifest.keys.total + 1);
    } finally {
      if (version !== null) await client.set(versionKey, version);
    }
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
      const config = opsConfig({ BACKUP_DIR: dir, BACKUP_KEEP: '1' });
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
