import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';

export interface Inventory {
  /** Keys per Redis type, e.g. `{ hash: 3, string: 6, set: 1 }`. */
  readonly byType: Readonly<Record<string, number>>;
  readonly total: number;
  /** SHA-256 over every key's name, type and logical content, in key order. */
  readonly contentDigest: string;
  /** Per-key digests, for telling what a restore changes. */
  readonly keys: ReadonlyMap<string, string>;
}

const BATCH = 500;

/** Every key under `prefix` (SCAN, never KEYS), sorted. */
export async function scanPrefix(redis: Redis, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', `${escapeGlob(prefix)}*`, 'COUNT', 1000);
    cursor = next;
    keys.push(...batch);
  } while (cursor !== '0');
  return [...new Set(keys)].sort();
}

function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}

/**
 * Describes the keys under a prefix by their logical content (not their DUMP
 * bytes, whose encoding may change on reload), so a backup loaded elsewhere
 * compares equal to the database it was taken from. TTLs are not part of it.
 * `exclude` names keys that are not data (the backup lock): never counted,
 * so never restored and never removed by a restore.
 */
export async function takeInventory(
  redis: Redis,
  prefix: string,
  options: { readonly exclude?: readonly string[] } = {},
): Promise<Inventory> {
  const excluded = new Set(options.exclude ?? []);
  const names = (await scanPrefix(redis, prefix)).filter((name) => !excluded.has(name));
  const byType: Record<string, number> = {};
  const keys = new Map<string, string>();
  const whole = createHash('sha256');
  for (let i = 0; i < names.length; i += BATCH) {
    const batch = names.slice(i, i + BATCH);
    const types = ((await redis.pipeline(batch.map((k) => ['type', k])).exec()) ?? []).map(([, t]) => String(t));
    const lengths = ((await redis.pipeline(batch.map((k, j) => lengthCommand(k, types[j]))).exec()) ?? []).map(([, n]) =>
      Number(n ?? 0),
    );
    // A key of many elements is read in chunks (each command well under the command timeout: one HGETALL of a
    // million-quote hash blocks Redis for most of a second); the others in one pipeline.
    const chunked = new Map<string, unknown>();
    for (const [j, key] of batch.entries()) {
      if ((lengths[j] ?? 0) > CHUNKED_ABOVE) chunked.set(key, await readInChunks(redis, key, types[j] ?? 'none'));
    }
    const reads = redis.pipeline();
    batch.forEach((key, j) => {
      if (chunked.has(key)) {
        reads.type(key);
        return;
      }
      switch (types[j]) {
        case 'string':
          reads.get(key);
          break;
        case 'hash':
          reads.hgetall(key);
          break;
        case 'set':
          reads.smembers(key);
          break;
        case 'zset':
          reads.zrange(key, 0, -1, 'WITHSCORES');
          break;
        case 'list':
          reads.lrange(key, 0, -1);
          break;
        default:
          reads.type(key);
      }
    });
    const values = (await reads.exec()) ?? [];
    batch.forEach((key, j) => {
      const type = types[j] ?? 'none';
      if (type === 'none') return; // expired between SCAN and TYPE
      byType[type] = (byType[type] ?? 0) + 1;
      const digest = createHash('sha256')
        .update(key)
        .update('\0')
        .update(type)
        .update('\0')
        .update(canonical(type, chunked.has(key) ? chunked.get(key) : values[j]?.[1]))
        .digest('hex');
      keys.set(key, digest);
      whole.update(key).update('\0').update(digest).update('\n');
    });
  }
  return { byType, total: keys.size, contentDigest: whole.digest('hex'), keys };
}

/** Above this many elements a key is read in chunks of {@link CHUNK}. */
const CHUNKED_ABOVE = 2_000;
const CHUNK = 1_000;

function lengthCommand(key: string, type: string | undefined): string[] {
  if (type === 'hash') return ['hlen', key];
  if (type === 'set') return ['scard', key];
  if (type === 'zset') return ['zcard', key];
  if (type === 'list') return ['llen', key];
  return ['exists', key];
}

/** The same value a single HGETALL / SMEMBERS / ZRANGE / LRANGE would give, read a chunk at a time. */
async function readInChunks(redis: Redis, key: string, type: string): Promise<unknown> {
  if (type === 'hash' || type === 'set') {
    const hash: Record<string, string> = {};
    const members = new Set<string>();
    let cursor = '0';
    do {
      if (type === 'hash') {
        const [next, flat] = await redis.hscan(key, cursor, 'COUNT', CHUNK);
        for (let i = 0; i < flat.length; i += 2) hash[flat[i] as string] = flat[i + 1] as string;
        cursor = next;
      } else {
        const [next, batch] = await redis.sscan(key, cursor, 'COUNT', CHUNK);
        for (const member of batch) members.add(member);
        cursor = next;
      }
    } while (cursor !== '0');
    return type === 'hash' ? hash : [...members];
  }
  const all: string[] = [];
  for (let start = 0; ; start += CHUNK) {
    const part =
      type === 'zset'
        ? await redis.zrange(key, start, start + CHUNK - 1, 'WITHSCORES')
        : await redis.lrange(key, start, start + CHUNK - 1);
    all.push(...part);
    if (part.length < (type === 'zset' ? 2 * CHUNK : CHUNK)) return all;
  }
}

function canonical(type: string, value: unknown): string {
  if (type === 'hash') {
    const entries = Object.entries((value ?? {}) as Record<string, string>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return JSON.stringify(entries);
  }
  if (type === 'set') return JSON.stringify([...((value ?? []) as string[])].sort());
  return JSON.stringify(value ?? null);
}

/** What turning `from` into `to` changes, key by key. */
export function diffInventories(from: Inventory, to: Inventory) {
  let added = 0;
  let changed = 0;
  let unchanged = 0;
  for (const [key, digest] of to.keys) {
    const before = from.keys.get(key);
    if (before === undefined) added++;
    else if (before === digest) unchanged++;
    else changed++;
  }
  let removed = 0;
  for (const key of from.keys.keys()) if (!to.keys.has(key)) removed++;
  return { added, changed, removed, unchanged };
}
