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
    const reads = redis.pipeline();
    batch.forEach((key, j) => {
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
        .update(canonical(type, values[j]?.[1]))
        .digest('hex');
      keys.set(key, digest);
      whole.update(key).update('\0').update(digest).update('\n');
    });
  }
  return { byType, total: keys.size, contentDigest: whole.digest('hex'), keys };
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
