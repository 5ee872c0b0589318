import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { RedisConfig } from '../../lib/config/index.ts';
import { appError } from '../../lib/errors/index.ts';
import { createToolRedis, findPrimary, type Redis } from '../../lib/redis/index.ts';
import type { OpsConfig } from '../config.ts';
import { diffInventories, type Inventory, takeInventory } from './inventory.ts';
import { type BackupLock, backupLockKey, withBackupLock } from './lock.ts';
import { downloadRdb } from './rdb-stream.ts';
import { SCRATCH_DIR_PREFIX, startScratchRedis } from './scratch-redis.ts';

export { diffInventories, scanPrefix, takeInventory } from './inventory.ts';
export { BACKUP_LOCK_TTL_MS, type BackupLock, backupLockKey } from './lock.ts';
export { downloadRdb } from './rdb-stream.ts';
export { REDIS_SERVER_MISSING, startScratchRedis } from './scratch-redis.ts';

/** What a backup file holds, written next to it as `<id>.json`. */
export interface BackupManifest {
  readonly id: string;
  readonly file: string;
  readonly created_at: string;
  readonly kind: 'scheduled' | 'manual' | 'pre-restore';
  readonly source: string;
  readonly redis_version: string;
  readonly prefix: string;
  readonly bytes: number;
  readonly sha256: string;
  readonly duration_ms: number;
  readonly keys: { readonly total: number; readonly by_type: Readonly<Record<string, number>> };
  readonly content_digest: string;
  readonly verification?: Verification;
}

export interface Verification {
  readonly ok: boolean;
  readonly at: string;
  readonly duration_ms: number;
  readonly problems: readonly string[];
}

export type Progress = (stage: string, done: number, total: number | null) => void;

/** A restore refused before anything was touched: the file does not match its manifest. */
function drillFailed(id: string, problems: readonly string[]) {
  return appError('BACKUP_DRILL_FAILED', { detail: `refusing to restore ${id}: its drill failed (${problems.join('; ')})` });
}

/** REDIS_URL's ACL user, for the replication stream's AUTH (Sentinel mode uses the default user). */
function usernameOf(redis: RedisConfig): string | undefined {
  if (redis.mode !== 'url') return undefined;
  try {
    const user = decodeURIComponent(new URL(redis.url).username);
    return user === '' ? undefined : user;
  } catch {
    return undefined;
  }
}

/**
 * `redis-20261126T020000123Z-1a2b3c`: the time to the millisecond (fixed width, so ids sort by time) and a random
 * suffix, so two backups never share a name or a partial file. Older ids (`redis-20261126T020000Z`) are only ever
 * looked up through their manifest, so they still list, verify, restore and prune.
 */
function backupId(now: Date, kind: BackupManifest['kind']): string {
  const stamp = now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.(\d{3})Z$/, '$1Z');
  const id = `redis-${stamp}-${randomBytes(3).toString('hex')}`;
  return kind === 'pre-restore' ? `${id}-pre-restore` : id;
}

/** A backup counts as successful unless its restore drill failed (one not drilled yet counts: the snapshot is there). */
export function backupSucceeded(manifest: BackupManifest): boolean {
  return manifest.verification?.ok !== false;
}

/** The platform's keys as a backup describes them: the lock is not data, so never counted, restored or removed. */
function platformInventory(redis: Redis, config: OpsConfig): Promise<Inventory> {
  return takeInventory(redis, config.redisKeyPrefix, { exclude: [backupLockKey(config.redisKeyPrefix)] });
}

/** What a crashed backup leaves in the backup folder: partial downloads, half-written manifests, scratch folders. */
function isLeftover(name: string): boolean {
  return name.endsWith('.partial') || name.endsWith('.json.tmp') || name.startsWith(SCRATCH_DIR_PREFIX);
}

/**
 * Runs `work` holding the backup lock (BACKUP_IN_PROGRESS when another backup, drill, restore or prune runs), after
 * sweeping what a crashed run left in the backup folder: with the lock held, nothing else is writing there.
 */
export async function lockBackups<T>(config: OpsConfig, what: string, work: (lock: BackupLock) => Promise<T>): Promise<T> {
  return withBackupLock(config, { what }, async (lock) => {
    await mkdir(config.backupDir, { recursive: true });
    for (const name of await readdir(config.backupDir)) {
      if (isLeftover(name)) await rm(join(config.backupDir, name), { recursive: true, force: true });
    }
    return work(lock);
  });
}

/** Runs `work` under the caller's lock when it holds one, else under a lock of its own. */
function locked<T>(config: OpsConfig, held: BackupLock | undefined, what: string, work: () => Promise<T>): Promise<T> {
  return held === undefined ? lockBackups(config, what, work) : work();
}

async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

async function writeManifest(dir: string, manifest: BackupManifest): Promise<void> {
  // Write then rename: a reader never sees half a manifest.
  const path = join(dir, `${manifest.id}.json`);
  await writeFile(`${path}.tmp`, `${JSON.stringify(manifest, null, 2)}\n`);
  await rename(`${path}.tmp`, path);
}

export interface BackupOptions {
  readonly kind?: BackupManifest['kind'];
  readonly onProgress?: Progress;
  readonly now?: Date;
  /** Run the restore drill too, under the same lock; the manifest returned carries its verification. */
  readonly verify?: boolean;
  /** The backup lock, when the caller holds it already (a scheduled backup and its prune, a restore's safety backup). */
  readonly lock?: BackupLock;
}

/**
 * Takes a consistent snapshot of the platform's Redis over the network
 * (replication `SYNC`), then loads it into a throwaway redis-server to count
 * and digest the platform's keys as they are in the file — so the manifest
 * describes the snapshot itself, not a database that kept changing. Holds the
 * backup lock (BACKUP_IN_PROGRESS when another backup, restore or prune runs).
 * With `verify`, the restore drill runs next under the same lock: a backup
 * whose drill fails is kept and its manifest says so (`verification.ok`
 * false); the caller decides what a failed drill means for it.
 */
export async function takeBackup(config: OpsConfig, options: BackupOptions = {}): Promise<BackupManifest> {
  return locked(config, options.lock, 'backup', async () => {
    const manifest = await snapshot(config, options);
    return options.verify === true ? drill(config, manifest.id, options.onProgress) : manifest;
  });
}

async function snapshot(config: OpsConfig, options: BackupOptions): Promise<BackupManifest> {
  const started = performance.now();
  const kind = options.kind ?? 'manual';
  await mkdir(config.backupDir, { recursive: true });
  const id = backupId(options.now ?? new Date(), kind);
  const file = `${id}.rdb`;
  const path = join(config.backupDir, file);
  const redis = createToolRedis(config.redis);
  redis.on('error', () => undefined);
  let version: string;
  try {
    await redis.connect();
    version = /redis_version:(\S+)/.exec(await redis.info('server'))?.[1] ?? 'unknown';
  } finally {
    redis.disconnect();
  }
  // Asked now, not remembered: after a Sentinel failover the snapshot must come from the new primary.
  const primary = await findPrimary(config.redis);
  try {
    const transfer = await downloadRdb(
      {
        address: primary,
        username: usernameOf(config.redis),
        password: config.redis.password,
        onProgress: (done, total) => options.onProgress?.('download', done, total),
      },
      `${path}.partial`,
    );
    await rename(`${path}.partial`, path);
    options.onProgress?.('inventory', 0, null);
    const inventory = await inventoryOf(path, config);
    const manifest: BackupManifest = {
      id,
      file,
      created_at: (options.now ?? new Date()).toISOString(),
      kind,
      source: `${primary.host}:${primary.port}`,
      redis_version: version,
      prefix: config.redisKeyPrefix,
      bytes: transfer.bytes,
      sha256: transfer.sha256,
      duration_ms: Math.round(performance.now() - started),
      keys: { total: inventory.total, by_type: inventory.byType },
      content_digest: inventory.contentDigest,
    };
    await writeManifest(config.backupDir, manifest);
    return manifest;
  } catch (err) {
    await rm(`${path}.partial`, { force: true });
    await rm(path, { force: true });
    throw err;
  }
}

async function inventoryOf(rdbPath: string, config: OpsConfig): Promise<Inventory> {
  const scratch = await startScratchRedis(rdbPath, config.redisServer, config.backupDir);
  try {
    return await platformInventory(scratch.client, config);
  } finally {
    await scratch.stop();
  }
}

/** Every backup with a readable manifest, newest first. */
export async function listBackups(config: OpsConfig): Promise<BackupManifest[]> {
  let names: string[];
  try {
    names = await readdir(config.backupDir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const manifests: BackupManifest[] = [];
  for (const name of names.filter((n) => n.endsWith('.json'))) {
    try {
      manifests.push(JSON.parse(await readFile(join(config.backupDir, name), 'utf8')) as BackupManifest);
    } catch {
      // A foreign or damaged file is not a backup; `verify` reports damaged ones by id.
    }
  }
  return manifests.sort((a, b) => (a.created_at < b.created_at ? 1 : a.created_at > b.created_at ? -1 : 0));
}

export async function findBackup(config: OpsConfig, id: string | undefined): Promise<BackupManifest> {
  const all = await listBackups(config);
  const found = id === undefined || id === 'latest' ? all[0] : all.find((m) => m.id === id);
  if (found === undefined) {
    const detail = id === undefined || id === 'latest' ? `no backup in ${config.backupDir}` : `no backup named ${id}`;
    throw appError('BACKUP_NOT_FOUND', { detail });
  }
  return found;
}

/**
 * A restore drill: checks the file's SHA-256, loads it into a throwaway
 * redis-server on a free port, compares key counts per type and the content
 * digest with the manifest, stops the server, and records the result. Holds
 * the backup lock (a prune must not remove the file under it), unless the
 * caller passes the one it holds.
 */
export async function verifyBackup(
  config: OpsConfig,
  id?: string,
  onProgress?: Progress,
  options: { readonly lock?: BackupLock } = {},
): Promise<BackupManifest> {
  return locked(config, options.lock, 'drill', () => drill(config, id, onProgress));
}

async function drill(config: OpsConfig, id: string | undefined, onProgress: Progress | undefined): Promise<BackupManifest> {
  const manifest = await findBackup(config, id);
  const started = performance.now();
  const path = join(config.backupDir, manifest.file);
  onProgress?.('checksum', 0, null);
  const problems = await checkFile(path, manifest);
  if (problems.length === 0) {
    onProgress?.('drill', 0, null);
    try {
      problems.push(...compareWithManifest(await inventoryOf(path, config), manifest));
    } catch (err) {
      problems.push(`the throwaway server could not load it: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  const verified: BackupManifest = {
    ...manifest,
    verification: {
      ok: problems.length === 0,
      at: new Date().toISOString(),
      duration_ms: Math.round(performance.now() - started),
      problems,
    },
  };
  await writeManifest(config.backupDir, verified);
  return verified;
}

/** What is wrong with a backup file by its manifest's size and SHA-256: nothing when empty. */
async function checkFile(path: string, manifest: BackupManifest): Promise<string[]> {
  const problems: string[] = [];
  const size = await stat(path).then(
    (s) => s.size,
    () => -1,
  );
  if (size < 0) problems.push(`file ${manifest.file} is missing`);
  else {
    if (size !== manifest.bytes) problems.push(`size ${size} differs from the manifest's ${manifest.bytes}`);
    const sha = await sha256File(path);
    if (sha !== manifest.sha256) problems.push('SHA-256 differs from the manifest: the file is damaged');
  }
  return problems;
}

/** What differs between a loaded backup and its manifest: key counts per type, content digest. */
function compareWithManifest(inventory: Inventory, manifest: BackupManifest): string[] {
  const problems: string[] = [];
  for (const type of new Set([...Object.keys(inventory.byType), ...Object.keys(manifest.keys.by_type)])) {
    const found = inventory.byType[type] ?? 0;
    const expected = manifest.keys.by_type[type] ?? 0;
    if (found !== expected) problems.push(`${type} keys: ${found} loaded, ${expected} in the manifest`);
  }
  if (inventory.contentDigest !== manifest.content_digest) problems.push('content digest differs from the manifest');
  return problems;
}

export interface PrunePlan {
  readonly keep: readonly BackupManifest[];
  readonly remove: readonly BackupManifest[];
  /** The newest verified-good backup, kept whatever the policy says. */
  readonly protected?: string;
}

/**
 * Retention: keep the newest `backupKeep` backups that are younger than
 * `backupMaxAgeDays`; never remove the newest backup whose drill passed.
 * Pure: `pruneBackups` applies it.
 */
export function planRetention(
  backups: readonly BackupManifest[],
  config: Pick<OpsConfig, 'backupKeep' | 'backupMaxAgeDays'>,
  now: Date,
): PrunePlan {
  const newestFirst = [...backups].sort((a, b) => (a.created_at < b.created_at ? 1 : -1));
  const lastGood = newestFirst.find((m) => m.verification?.ok === true);
  const maxAgeMs = config.backupMaxAgeDays * 86_400_000;
  const keep: BackupManifest[] = [];
  const remove: BackupManifest[] = [];
  newestFirst.forEach((m, index) => {
    const young = now.getTime() - Date.parse(m.created_at) <= maxAgeMs;
    if ((index < config.backupKeep && young) || m.id === lastGood?.id) keep.push(m);
    else remove.push(m);
  });
  return { keep, remove, protected: lastGood?.id };
}

/** Applies `planRetention`; a dry run only reads, anything else holds the backup lock. */
export async function pruneBackups(
  config: OpsConfig,
  options: { dryRun?: boolean; now?: Date; lock?: BackupLock } = {},
): Promise<PrunePlan> {
  const plan = async () => planRetention(await listBackups(config), config, options.now ?? new Date());
  if (options.dryRun) return plan();
  return locked(config, options.lock, 'prune', async () => {
    const decided = await plan();
    for (const m of decided.remove) {
      await rm(join(config.backupDir, m.file), { force: true });
      await rm(join(config.backupDir, `${m.id}.json`), { force: true });
    }
    return decided;
  });
}

/** What a scheduled run did: the backup with its drill, and the retention applied after it. */
export interface ScheduledRun {
  readonly backup: BackupManifest;
  readonly pruned: PrunePlan;
}

/**
 * The daily run of spec 6.4.2.2: a backup, its restore drill, then the retention policy, under one lock (the
 * service's own schedule, and in Kubernetes the CronJob that asks the service, both run exactly this).
 */
export async function runScheduledBackup(config: OpsConfig): Promise<ScheduledRun> {
  return lockBackups(config, 'scheduled backup', async (lock) => {
    const backup = await takeBackup(config, { kind: 'scheduled', verify: true, lock });
    const pruned = await pruneBackups(config, { lock });
    return { backup, pruned };
  });
}

export interface RestoreReport {
  readonly restored: string;
  readonly safety_backup: string;
  readonly added: number;
  readonly changed: number;
  readonly removed: number;
  readonly unchanged: number;
  /** Keys under the prefix once the backup is back, before `afterRestore`: the manifest's total. */
  readonly keys_after: number;
  readonly duration_ms: number;
}

export interface RestoreOptions {
  readonly onProgress?: Progress;
  /** The backup lock, when the caller holds it already. */
  readonly lock?: BackupLock;
  /**
   * Runs on the live Redis once the keys are back, before the client closes:
   * the entry point's invalidation of what the services cached (the quotes
   * catalogue version), which this library does not know about.
   */
  readonly afterRestore?: (redis: Redis) => Promise<void>;
}

/**
 * Puts a backup back into the live Redis, for the platform's keys only (other
 * tenants of a shared Redis are untouched). The backup is checked first (size
 * and SHA-256, then loaded into a throwaway server and compared with its
 * manifest): a damaged one is refused (BACKUP_DRILL_FAILED) before
 * anything is touched. Then a safety backup of the current state, every key
 * of the backup restored with its TTL, keys the backup did not have removed,
 * and finally `afterRestore`. The whole of it holds the backup lock, whose
 * key a restore neither brings back from the file nor removes.
 */
export async function restoreBackup(
  config: OpsConfig,
  id: string | undefined,
  options: RestoreOptions = {},
): Promise<RestoreReport> {
  return locked(config, options.lock, 'restore', () => restoreLocked(config, id, options));
}

/** A key's type and number of elements, as the restore decides how to copy it. */
interface KeySize {
  readonly type: string;
  readonly count: number;
}

/** Above this many elements a hash, sorted set or set is copied in chunks (a stream or string never is). */
const CHUNKED_ABOVE = 2_000;
const CHUNK = 1_000;

function isChunked(size: KeySize | undefined): boolean {
  return size !== undefined && size.count > CHUNKED_ABOVE && ['hash', 'zset', 'set'].includes(size.type);
}

async function elementCounts(client: Redis, keys: readonly string[]): Promise<Map<string, KeySize>> {
  const sizes = new Map<string, KeySize>();
  for (let i = 0; i < keys.length; i += 500) {
    const batch = keys.slice(i, i + 500);
    const types = ((await client.pipeline(batch.map((k) => ['type', k])).exec()) ?? []).map(([, t]) => String(t));
    const lengths =
      (await client
        .pipeline(
          batch.map((k, j) => {
            const type = types[j];
            return type === 'hash' ? ['hlen', k] : type === 'zset' ? ['zcard', k] : type === 'set' ? ['scard', k] : ['exists', k];
          }),
        )
        .exec()) ?? [];
    batch.forEach((k, j) => {
      sizes.set(k, { type: types[j] ?? 'none', count: Number(lengths[j]?.[1] ?? 0) });
    });
  }
  return sizes;
}

/**
 * Copies a large hash, sorted set or set from the drill's server into `<key>:restoring` a chunk at a time (each
 * command well under the command timeout), then swaps it in with one MULTI: UNLINK of the live key (freed in the
 * background) and RENAME of the staging key, so readers see the old value, then the new one, never a half.
 */
async function copyInChunks(from: Redis, to: Redis, key: string, size: KeySize): Promise<void> {
  const staging = `${key}:restoring`;
  await to.unlink(staging);
  let cursor = '0';
  do {
    if (size.type === 'hash') {
      const [next, flat] = await from.hscan(key, cursor, 'COUNT', CHUNK);
      if (flat.length > 0) await to.hset(staging, ...flat);
      cursor = next;
    } else if (size.type === 'zset') {
      const [next, flat] = await from.zscan(key, cursor, 'COUNT', CHUNK);
      const pairs: (string | number)[] = [];
      for (let i = 0; i < flat.length; i += 2) pairs.push(flat[i + 1] as string, flat[i] as string);
      if (pairs.length > 0) await to.zadd(staging, ...pairs);
      cursor = next;
    } else {
      const [next, members] = await from.sscan(key, cursor, 'COUNT', CHUNK);
      if (members.length > 0) await to.sadd(staging, ...members);
      cursor = next;
    }
  } while (cursor !== '0');
  const ttl = await from.pttl(key);
  const swap = to.multi().unlink(key).rename(staging, key);
  if (ttl > 0) swap.pexpire(key, ttl);
  for (const [err] of (await swap.exec()) ?? []) if (err) throw err;
}

async function restoreLocked(config: OpsConfig, id: string | undefined, options: RestoreOptions): Promise<RestoreReport> {
  const { onProgress } = options;
  const started = performance.now();
  const manifest = await findBackup(config, id);
  const path = join(config.backupDir, manifest.file);
  onProgress?.('checksum', 0, null);
  const damaged = await checkFile(path, manifest);
  if (damaged.length > 0) throw drillFailed(manifest.id, damaged);
  onProgress?.('drill', 0, null);
  const scratch = await startScratchRedis(path, config.redisServer, config.backupDir);
  let live: Redis | undefined;
  try {
    const wanted = await platformInventory(scratch.client, config);
    const mismatch = compareWithManifest(wanted, manifest);
    if (mismatch.length > 0) throw drillFailed(manifest.id, mismatch);
    const safety = await snapshot(config, { kind: 'pre-restore', onProgress });
    live = createToolRedis(config.redis);
    live.on('error', () => undefined);
    await live.connect();
    const before = await platformInventory(live, config);
    const diff = diffInventories(before, wanted);
    const keys = [...wanted.keys.keys()];
    // A key of many elements (the quotes hash and its index at a million quotes) is copied in chunks into a
    // staging key and swapped in at once: one RESTORE of it would block Redis for about a second, and every
    // reader with it. The others go as DUMP/RESTORE pairs, 200 to a round trip.
    const sizes = await elementCounts(scratch.client, keys);
    const small = keys.filter((k) => !isChunked(sizes.get(k)));
    for (let i = 0; i < small.length; i += 200) {
      const batch = small.slice(i, i + 200);
      const dumps =
        (await scratch.client
          .pipeline(
            batch.flatMap((k) => [
              ['dumpBuffer', k],
              ['pttl', k],
            ]),
          )
          .exec()) ?? [];
      const write = live.pipeline();
      batch.forEach((key, j) => {
        const payload = dumps[2 * j]?.[1] as Buffer | null;
        const ttl = Number(dumps[2 * j + 1]?.[1]);
        if (payload !== null) write.restore(key, Math.max(ttl, 0), payload, 'REPLACE');
      });
      for (const [err] of (await write.exec()) ?? []) if (err) throw err;
      onProgress?.('restore', Math.min(i + 200, small.length), keys.length);
    }
    for (const key of keys.filter((k) => isChunked(sizes.get(k)))) {
      await copyInChunks(scratch.client, live, key, sizes.get(key) as KeySize);
    }
    onProgress?.('restore', keys.length, keys.length);
    const stale = [...before.keys.keys()].filter((k) => !wanted.keys.has(k));
    // UNLINK: a large stale key is freed in the background, not while Redis answers.
    if (stale.length > 0) await live.unlink(...stale);
    // Counted before the hook: what it adds (a version key the backup lacked) is not restored data.
    const after = await platformInventory(live, config);
    await options.afterRestore?.(live);
    return {
      restored: manifest.id,
      safety_backup: safety.id,
      ...diff,
      keys_after: after.total,
      duration_ms: Math.round(performance.now() - started),
    };
  } finally {
    live?.disconnect();
    await scratch.stop();
  }
}
