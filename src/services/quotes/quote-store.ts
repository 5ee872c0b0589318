import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';

/** A stored quote. `user_id` is absent for the seed curses (they belong to nobody). */
export interface Quote {
  id: number;
  quote: string;
  user_id?: string;
  created_at?: string;
  updated_at?: string;
}

/** One entry of the change stream: a quote written (`put`, with its new state) or deleted (`del`). */
export interface QuoteChange {
  /** The stream entry's id (`<ms>-<seq>`), the position to read on from. */
  streamId: string;
  op: 'put' | 'del';
  id: number;
  quote?: Quote;
}

/** Every Redis key of the quotes domain, under the platform's prefix. */
export function quoteKeys(prefix: string) {
  return {
    /** hash: id → quote JSON */
    quotes: `${prefix}quotes`,
    /** sorted set: every id of the hash, score = id, member = the id as text (pagination by rank) */
    ids: `${prefix}quotes:ids`,
    /** stream, capped: one entry per create, update and delete, written by the same script as the data */
    changes: `${prefix}quotes:changes`,
    /** string: opaque token (server time, µs) changed whenever the catalogue changes outside the stream */
    generation: `${prefix}quotes:generation`,
    /** string: last id handed out */
    nextId: `${prefix}quotes:next-id`,
    /** string: set once, when the seed file has been loaded */
    seeded: `${prefix}quotes:seeded`,
    /** string with a TTL: the owner token of whoever seeds or rebuilds the id index */
    lease: `${prefix}quotes:seed-lease`,
    /** string: how many lines of the seed file are loaded, while seeding is under way */
    seedProgress: `${prefix}quotes:seed-progress`,
    /** string of the previous layout (a version bumped by every write), deleted by the migration */
    legacyVersion: `${prefix}quotes:version`,
  } as const;
}

export type QuoteKeys = ReturnType<typeof quoteKeys>;

/** Tunables; the defaults are the production values, tests shorten the lease. */
export interface QuoteStoreOptions {
  /** Lifetime of the seeding/migration lease, renewed every third of it by its holder (default 30 s). */
  readonly leaseTtlMs?: number;
  /** Seed lines (or migrated ids) per script call (default 2,000). */
  readonly chunkSize?: number;
  /** How often a replica waiting for another's seeding looks again (default 250 ms). */
  readonly pollMs?: number;
  /** Approximate number of entries the change stream keeps (default 100,000). */
  readonly streamMaxLen?: number;
}

// A new generation is the server's clock in microseconds, and always above the
// previous one: a reader's token from before can never come back by chance,
// even after an emptied Redis (the key is then missing and created anew).
const NEW_GENERATION = `
local function new_generation(key)
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
  local old = tonumber(redis.call('GET', key) or '0') or 0
  if now <= old then now = old + 1 end
  local value = string.format('%.0f', now)
  redis.call('SET', key, value)
  return value
end
`;

// KEYS: generation. Creates the generation only when it is missing.
const ENSURE_GENERATION = `${NEW_GENERATION}
local current = redis.call('GET', KEYS[1])
if current then return current end
return new_generation(KEYS[1])
`;

// KEYS: generation.
const BUMP_GENERATION = `${NEW_GENERATION}
return new_generation(KEYS[1])
`;

// Every write is one script: the hash, the id index and the change stream move
// together. The first write command (INCR, HSET or HDEL) is the one Redis
// refuses at maxmemory, so a refused write changes nothing and records nothing.
// KEYS: quotes, next-id, ids, changes. ARGV: text, user id ('' for none), time, stream length.
const CREATE = `
local id = redis.call('INCR', KEYS[2])
local quote = { id = id, quote = ARGV[1], created_at = ARGV[3] }
if ARGV[2] ~= '' then quote.user_id = ARGV[2] end
local json = cjson.encode(quote)
redis.call('HSET', KEYS[1], id, json)
redis.call('ZADD', KEYS[3], id, id)
redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[4], '*', 'op', 'put', 'id', id, 'quote', json)
return json
`;

// KEYS: quotes, next-id, ids, changes. ARGV: time, stream length, texts…
const APPEND_MANY = `
local n = #ARGV - 2
local first = redis.call('INCRBY', KEYS[2], n) - n + 1
for i = 1, n do
  local id = first + i - 1
  local json = cjson.encode({ id = id, quote = ARGV[i + 2], created_at = ARGV[1] })
  redis.call('HSET', KEYS[1], id, json)
  redis.call('ZADD', KEYS[3], id, id)
  redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[2], '*', 'op', 'put', 'id', id, 'quote', json)
end
return n
`;

// KEYS: quotes, next-id, ids, changes. ARGV: id, actor user id ('' for an admin),
// stream length, then for an update the new text and time.
// Returns nil when absent, 'FORBIDDEN' when the actor does not own the quote.
const OWNER_CHECK = `
local json = redis.call('HGET', KEYS[1], ARGV[1])
if not json then return nil end
local quote = cjson.decode(json)
if ARGV[2] ~= '' and quote.user_id ~= ARGV[2] then return 'FORBIDDEN' end
`;

const UPDATE = `${OWNER_CHECK}
quote.quote = ARGV[4]
quote.updated_at = ARGV[5]
json = cjson.encode(quote)
redis.call('HSET', KEYS[1], ARGV[1], json)
redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[3], '*', 'op', 'put', 'id', ARGV[1], 'quote', json)
return json
`;

const DELETE = `${OWNER_CHECK}
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[3], '*', 'op', 'del', 'id', ARGV[1])
return json
`;

// One chunk of the seed file. Applied only when the progress counter equals the
// chunk's first line, so a chunk is written once whoever sends it, and a seeder
// that lost its lease (or a replica racing it) cannot write twice.
// KEYS: quotes, next-id, ids, generation, seeded, seed-progress.
// ARGV: first line (0-based count of lines before the chunk), final ('1'/'0'), time, then id, JSON pairs.
// Returns { 0, progress } when written, { 1, progress } when the progress differed, { 2, 0 } when seeded.
const SEED_CHUNK = `${NEW_GENERATION}
if redis.call('EXISTS', KEYS[5]) == 1 then return { 2, 0 } end
local progress = tonumber(redis.call('GET', KEYS[6]) or '0')
if progress ~= tonumber(ARGV[1]) then return { 1, progress } end
for i = 4, #ARGV, 2 do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
  redis.call('ZADD', KEYS[3], ARGV[i], ARGV[i])
end
progress = progress + (#ARGV - 3) / 2
if ARGV[2] == '1' then
  local current = tonumber(redis.call('GET', KEYS[2]) or '0')
  if current < progress then redis.call('SET', KEYS[2], progress) end
  redis.call('SET', KEYS[5], ARGV[3])
  redis.call('DEL', KEYS[6])
  new_generation(KEYS[4])
else
  redis.call('SET', KEYS[6], progress)
end
return { 0, progress }
`;

// The migration's two passes, a chunk at a time. Checking the hash inside the
// script keeps them right against concurrent writes: an id deleted after the
// HSCAN that found it is not added back, one created since is not removed.
// KEYS: quotes, ids. ARGV: ids.
const INDEX_IDS = `
local added = 0
for i = 1, #ARGV do
  if redis.call('HEXISTS', KEYS[1], ARGV[i]) == 1 then
    added = added + redis.call('ZADD', KEYS[2], 'NX', ARGV[i], ARGV[i])
  end
end
return added
`;

const UNINDEX_MISSING = `
local removed = 0
for i = 1, #ARGV do
  if redis.call('HEXISTS', KEYS[1], ARGV[i]) == 0 then
    removed = removed + redis.call('ZREM', KEYS[2], ARGV[i])
  end
end
return removed
`;

// Reads are scripts flagged no-writes: atomic (the ids and their quotes from
// one instant), allowed while Redis is at maxmemory and on replicas. HMGET goes
// in batches: Lua's unpack has a stack limit of a few thousand values.
const HMGET_IDS = `
local function fetch(out, ids)
  for i = 1, #ids, 1000 do
    local last = math.min(i + 999, #ids)
    local batch = redis.call('HMGET', KEYS[1], unpack(ids, i, last))
    for j = 1, #batch do out[#out + 1] = batch[j] end
  end
  return out
end
`;

// KEYS: quotes, ids. ARGV: after id, count.
const READ_CHUNK = `#!lua flags=no-writes
${HMGET_IDS}
local ids = redis.call('ZRANGE', KEYS[2], '(' .. ARGV[1], '+inf', 'BYSCORE', 'LIMIT', 0, ARGV[2])
return fetch({}, ids)
`;

// KEYS: quotes, ids. ARGV: offset, limit. Returns the total first, then the page's JSON.
const PAGE = `#!lua flags=no-writes
${HMGET_IDS}
local start = tonumber(ARGV[1])
local ids = redis.call('ZRANGE', KEYS[2], start, start + tonumber(ARGV[2]) - 1)
return fetch({ redis.call('ZCARD', KEYS[2]) }, ids)
`;

// KEYS: quotes, ids. ARGV: a uniform random number in [0, 1) drawn by the caller. One quote at that rank of the id
// index: O(log N) whatever the catalogue's size (HRANDFIELD's sampling of a million-field hash had a p99 three
// times its thousand-field one). Falls back to HRANDFIELD while the index is being rebuilt (empty).
const RANDOM = `#!lua flags=no-writes
local n = redis.call('ZCARD', KEYS[2])
if n == 0 then
  local pair = redis.call('HRANDFIELD', KEYS[1], 1, 'WITHVALUES')
  return pair[2]
end
local rank = math.floor(tonumber(ARGV[1]) * n)
if rank >= n then rank = n - 1 end
local id = redis.call('ZRANGE', KEYS[2], rank, rank)[1]
if not id then return nil end
return redis.call('HGET', KEYS[1], id)
`;

// KEYS: quotes, ids, legacy version. Returns HLEN, ZCARD, whether the old version key exists.
const LAYOUT = `#!lua flags=no-writes
return { redis.call('HLEN', KEYS[1]), redis.call('ZCARD', KEYS[2]), redis.call('EXISTS', KEYS[3]) }
`;

// KEYS: lease. ARGV: owner token, TTL in ms.
const RENEW_LEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
`;

// KEYS: lease. ARGV: owner token.
const RELEASE_LEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

interface QuoteCommands {
  quotesEnsureGeneration(k1: string): Promise<string>;
  quotesBumpGeneration(k1: string): Promise<string>;
  quotesCreate(k1: string, k2: string, k3: string, k4: string, ...args: string[]): Promise<string>;
  quotesAppendMany(k1: string, k2: string, k3: string, k4: string, ...args: string[]): Promise<number>;
  quotesUpdate(k1: string, k2: string, k3: string, k4: string, ...args: string[]): Promise<string | null>;
  quotesDelete(k1: string, k2: string, k3: string, k4: string, ...args: string[]): Promise<string | null>;
  quotesSeedChunk(...keysAndArgs: string[]): Promise<[number, number]>;
  quotesIndexIds(k1: string, k2: string, ...ids: string[]): Promise<number>;
  quotesUnindexMissing(k1: string, k2: string, ...ids: string[]): Promise<number>;
  quotesReadChunk(k1: string, k2: string, after: string, count: string): Promise<Array<string | null>>;
  quotesPage(k1: string, k2: string, offset: string, limit: string): Promise<[number, ...Array<string | null>]>;
  quotesRandom(k1: string, k2: string, draw: string): Promise<string | null>;
  quotesLayout(k1: string, k2: string, k3: string): Promise<[number, number, number]>;
  quotesRenewLease(k1: string, token: string, ttlMs: string): Promise<number>;
  quotesReleaseLease(k1: string, token: string): Promise<number>;
}

/** Result of an owner-checked write. */
export type OwnedWrite = { status: 'ok'; quote: Quote } | { status: 'not_found' } | { status: 'forbidden' };

/** A copy of every quote, ordered by id, and the state it was read at (see {@link QuoteStore.all}). */
export interface QuoteSnapshot {
  readonly version: string;
  readonly quotes: readonly Quote[];
}

/** Where the seed's lines come from: a list, or a function opening the file anew (each holder rereads it). */
export type SeedSource = readonly string[] | (() => AsyncIterable<string>);

/** Parses a stored quote; cjson writes ids as numbers and may escape slashes, both fine for JSON.parse. */
export function parseQuote(json: string): Quote {
  const raw = JSON.parse(json) as Quote;
  const quote: Quote = { id: Number(raw.id), quote: raw.quote };
  if (typeof raw.user_id === 'string') quote.user_id = raw.user_id;
  if (raw.created_at) quote.created_at = raw.created_at;
  if (raw.updated_at) quote.updated_at = raw.updated_at;
  return quote;
}

/** Stream ids (`<ms>-<seq>`) in order: negative when a is older than b. */
export function compareStreamIds(a: string, b: string): number {
  const [am = 0, as = 0] = a.split('-').map(Number);
  const [bm = 0, bs = 0] = b.split('-').map(Number);
  return am === bm ? as - bs : am - bm;
}

const sleep = (ms: number) =>
  new Promise<void>((resolve) => {
    setTimeout(resolve, ms).unref();
  });

/** Thrown inside a lease holder's work when the lease was lost: another replica may be doing it now. */
class LeaseLost extends Error {}

/**
 * Owns the quotes keys. Every read costs in proportion to what it returns: a
 * quote is one HGET, a page a ZRANGE by rank and an HMGET, a chunk of the
 * catalogue a ZRANGE by score; nothing reads the whole hash at once. Every
 * write records a change in the stream in the same script; what cannot
 * (seeding, a restore, a migration, an emptied Redis) changes the generation.
 */
export class QuoteStore {
  readonly keys: QuoteKeys;
  private readonly redis: Redis & QuoteCommands;
  private readonly leaseTtlMs: number;
  private readonly chunkSize: number;
  private readonly pollMs: number;
  private readonly streamMaxLen: string;
  private snapshot: QuoteSnapshot | undefined;
  private loading: Promise<QuoteSnapshot> | undefined;

  constructor(redis: Redis, prefix: string, options: QuoteStoreOptions = {}) {
    this.keys = quoteKeys(prefix);
    this.redis = redis as Redis & QuoteCommands;
    this.leaseTtlMs = options.leaseTtlMs ?? 30_000;
    this.chunkSize = options.chunkSize ?? 2_000;
    this.pollMs = options.pollMs ?? 250;
    this.streamMaxLen = String(options.streamMaxLen ?? 100_000);
    defineOnce(redis, 'quotesEnsureGeneration', 1, ENSURE_GENERATION);
    defineOnce(redis, 'quotesBumpGeneration', 1, BUMP_GENERATION);
    defineOnce(redis, 'quotesCreate', 4, CREATE);
    defineOnce(redis, 'quotesAppendMany', 4, APPEND_MANY);
    defineOnce(redis, 'quotesUpdate', 4, UPDATE);
    defineOnce(redis, 'quotesDelete', 4, DELETE);
    defineOnce(redis, 'quotesSeedChunk', 6, SEED_CHUNK);
    defineOnce(redis, 'quotesIndexIds', 2, INDEX_IDS);
    defineOnce(redis, 'quotesUnindexMissing', 2, UNINDEX_MISSING);
    defineOnce(redis, 'quotesReadChunk', 2, READ_CHUNK);
    defineOnce(redis, 'quotesPage', 2, PAGE);
    defineOnce(redis, 'quotesRandom', 2, RANDOM);
    defineOnce(redis, 'quotesLayout', 3, LAYOUT);
    defineOnce(redis, 'quotesRenewLease', 1, RENEW_LEASE);
    defineOnce(redis, 'quotesReleaseLease', 1, RELEASE_LEASE);
  }

  private get writeKeys(): [string, string, string, string] {
    return [this.keys.quotes, this.keys.nextId, this.keys.ids, this.keys.changes];
  }

  // ------------------------------------------------------------ generation and changes

  /** The catalogue's generation token, created (server time, µs) when missing: a new or emptied database. */
  async generation(): Promise<string> {
    return (await this.redis.get(this.keys.generation)) ?? (await this.redis.quotesEnsureGeneration(this.keys.generation));
  }

  /**
   * The post-restore hook (the name predates the generation): the restored keys replaced the catalogue
   * underneath the stream, so the id index is checked (rebuilt in chunks if it does not match the hash, as a
   * backup of the previous layout has none) and the generation moves on, which makes every reader rebuild.
   */
  async invalidateSnapshots(): Promise<void> {
    await this.migrate();
    await this.redis.quotesBumpGeneration(this.keys.generation);
  }

  /** The newest change's stream id, or `0-0` when there is none: where a reader that just rebuilt reads on from. */
  async streamHead(): Promise<string> {
    const [newest] = (await this.redis.xrevrange(this.keys.changes, '+', '-', 'COUNT', 1)) as Array<[string, string[]]>;
    return newest?.[0] ?? '0-0';
  }

  /**
   * The changes after `afterId`, waiting up to `blockMs` for one (XREAD BLOCK) on `client`, a connection of
   * the caller's own (blocking ties it up) whose command timeout exceeds `blockMs`. `trimmed` says the
   * caller cannot catch up from the stream and must rebuild: `afterId` is older than the stream's first
   * entry (trimmed away, checked again after the read), or newer than its last (the stream went back: a
   * restore or a failover to a replica that lacked the latest entries), or the stream is gone.
   */
  async readChanges(
    client: Redis,
    afterId: string,
    blockMs: number,
    count: number,
  ): Promise<{ entries: QuoteChange[]; trimmed: boolean }> {
    const key = this.keys.changes;
    if (afterId !== '0-0') {
      const ends = await client.pipeline().xrange(key, '-', '+', 'COUNT', 1).xrevrange(key, '+', '-', 'COUNT', 1).exec();
      const [first, last] = (ends ?? []).map(([err, value]) => {
        if (err) throw err;
        return (value as Array<[string, string[]]>)[0]?.[0];
      });
      if (first === undefined || last === undefined) return { entries: [], trimmed: true };
      if (compareStreamIds(afterId, first) < 0 || compareStreamIds(afterId, last) > 0) return { entries: [], trimmed: true };
    }
    const reply = (await client.xread('COUNT', count, 'BLOCK', blockMs, 'STREAMS', key, afterId)) as Array<
      [string, Array<[string, string[]]>]
    > | null;
    const entries = (reply?.[0]?.[1] ?? []).map(([streamId, fields]) => toChange(streamId, fields));
    if (afterId === '0-0' || entries.length === 0) return { entries, trimmed: false };
    // Trimming only moves the first entry forward: if afterId is still there now, nothing was skipped.
    const [first] = (await client.xrange(key, '-', '+', 'COUNT', 1)) as Array<[string, string[]]>;
    return { entries, trimmed: first === undefined || compareStreamIds(afterId, first[0]) < 0 };
  }

  // ------------------------------------------------------------ reads

  async get(id: number): Promise<Quote | null> {
    const json = await this.redis.hget(this.keys.quotes, String(id));
    return json === null ? null : parseQuote(json);
  }

  async random(): Promise<Quote | null> {
    const json = await this.redis.quotesRandom(this.keys.quotes, this.keys.ids, String(Math.random()));
    return json === null ? null : parseQuote(json);
  }

  /** The quotes of these ids, in the order given; ids that do not exist are skipped. */
  async getMany(ids: readonly number[]): Promise<Quote[]> {
    if (ids.length === 0) return [];
    const found = await this.redis.hmget(this.keys.quotes, ...ids.map(String));
    return found.filter((json): json is string => json !== null).map(parseQuote);
  }

  /** At most `count` quotes with ids above `afterId`, in id order: walks the catalogue a chunk at a time. */
  async readChunk(afterId: number, count: number): Promise<Quote[]> {
    const found = await this.redis.quotesReadChunk(this.keys.quotes, this.keys.ids, String(afterId), String(count));
    return found.filter((json): json is string => json !== null).map(parseQuote);
  }

  /** The quotes at ranks offset..offset+limit-1 in id order. */
  async page(offset: number, limit: number): Promise<Quote[]> {
    return (await this.pageWithTotal(offset, limit)).quotes;
  }

  /**
   * A page and the number of quotes, read together (one script: the total always matches the page). Pages
   * longer than 5,000 go in several calls, so none holds Redis for long.
   */
  async pageWithTotal(offset: number, limit: number): Promise<{ total: number; quotes: Quote[] }> {
    const step = 5_000;
    const quotes: Quote[] = [];
    let total = 0;
    for (let done = 0; done < limit; done += step) {
      const size = Math.min(step, limit - done);
      const [count, ...found] = await this.redis.quotesPage(this.keys.quotes, this.keys.ids, String(offset + done), String(size));
      if (done === 0) total = count;
      for (const json of found) if (json !== null) quotes.push(parseQuote(json));
      if (found.length < size) break;
    }
    return { total, quotes };
  }

  /** How many quotes there are (ZCARD of the id index). */
  async count(): Promise<number> {
    return this.redis.zcard(this.keys.ids);
  }

  /**
   * Every quote ordered by id, from memory while neither the generation nor the stream's head moved (two
   * reads per call), else reloaded a chunk at a time. Concurrent callers share one reload.
   * @deprecated A whole copy in memory is what issue 11 moves away from: the search service no longer uses it
   * (its segmented index follows the change stream). Kept for bench/run.ts, which reads the seed texts with
   * it; once that walks readChunk instead, delete this and QuoteSnapshot.
   */
  async all(): Promise<QuoteSnapshot> {
    const version = `${await this.generation()}/${await this.streamHead()}`;
    if (this.snapshot?.version === version) return this.snapshot;
    this.loading ??= this.reload(version).finally(() => {
      this.loading = undefined;
    });
    return this.loading;
  }

  private async reload(version: string): Promise<QuoteSnapshot> {
    // The version is read first, so it is never newer than the data: a write in between only makes the
    // next call reload once more, never serves stale data as current.
    const quotes: Quote[] = [];
    for (let after = 0; ; ) {
      const chunk = await this.readChunk(after, 5_000);
      quotes.push(...chunk);
      const last = chunk.at(-1);
      if (last === undefined || chunk.length < 5_000) break;
      after = last.id;
    }
    this.snapshot = { version, quotes };
    return this.snapshot;
  }

  // ------------------------------------------------------------ writes

  async create(quote: string, userId: string | null): Promise<Quote> {
    const json = await this.redis.quotesCreate(
      ...this.writeKeys,
      quote,
      userId ?? '',
      new Date().toISOString(),
      this.streamMaxLen,
    );
    return parseQuote(json);
  }

  /**
   * Bulk insert (bench and imports), in chunks so no script blocks Redis for long. Each quote is a change in
   * the stream like any create: replicas apply an import as it goes instead of all rebuilding at its end
   * (one larger than the stream's retention makes them rebuild anyway, as they fall behind it).
   */
  async appendMany(texts: readonly string[], chunkSize = 2_000): Promise<number> {
    let inserted = 0;
    const now = new Date().toISOString();
    for (let i = 0; i < texts.length; i += chunkSize) {
      inserted += await this.redis.quotesAppendMany(...this.writeKeys, now, this.streamMaxLen, ...texts.slice(i, i + chunkSize));
    }
    return inserted;
  }

  /** Updates a quote's text; `actor` null means an admin (no ownership check). */
  async update(id: number, text: string, actor: string | null): Promise<OwnedWrite> {
    const result = await this.redis.quotesUpdate(
      ...this.writeKeys,
      String(id),
      actor ?? '',
      this.streamMaxLen,
      text,
      new Date().toISOString(),
    );
    return ownedResult(result);
  }

  async delete(id: number, actor: string | null): Promise<OwnedWrite> {
    return ownedResult(await this.redis.quotesDelete(...this.writeKeys, String(id), actor ?? '', this.streamMaxLen));
  }

  // ------------------------------------------------------------ seeding and migration

  async isSeeded(): Promise<boolean> {
    return (await this.redis.exists(this.keys.seeded)) === 1;
  }

  /**
   * Loads the seed quotes, line i as id i, unless this database was seeded before; returns how many this
   * call inserted (0 when already seeded, or seeded by another replica meanwhile). Of several replicas
   * one holds the lease and loads, chunk by chunk; the others wait for `quotes:seeded`. A holder that dies
   * loses the lease after its TTL; the next one resumes at the progress counter, and a chunk is written only
   * at that counter, so every line is loaded exactly once.
   */
  async seed(source: SeedSource): Promise<number> {
    const open = typeof source === 'function' ? source : () => fromArray(source);
    for (;;) {
      if (await this.isSeeded()) return 0;
      const inserted = await this.withLease((held) => this.seedHolding(open(), held));
      if (inserted !== undefined) return inserted;
      await sleep(this.pollMs);
    }
  }

  private async seedHolding(lines: AsyncIterable<string>, held: () => void): Promise<number> {
    const progress = Number((await this.redis.get(this.keys.seedProgress)) ?? '0');
    const now = new Date().toISOString();
    let inserted = 0;
    let start = progress;
    let batch: string[] = [];
    const send = async (final: boolean) => {
      held();
      const [status, reached] = await this.redis.quotesSeedChunk(
        this.keys.quotes,
        this.keys.nextId,
        this.keys.ids,
        this.keys.generation,
        this.keys.seeded,
        this.keys.seedProgress,
        String(start),
        final ? '1' : '0',
        now,
        ...batch,
      );
      if (status === 2) return false;
      if (status === 1) throw new LeaseLost(`seed progress is ${reached}, not ${start}: another seeder moved it`);
      inserted += batch.length / 2;
      start = reached;
      batch = [];
      return true;
    };
    let line = 0;
    for await (const text of lines) {
      line += 1;
      if (line <= progress) continue;
      batch.push(String(line), JSON.stringify({ id: line, quote: text, created_at: now }));
      if (batch.length === this.chunkSize * 2 && !(await send(false))) return inserted;
    }
    await send(true);
    return inserted;
  }

  /**
   * Builds the id index of a database of the previous layout (the hash without `quotes:ids`), or repairs one
   * that does not match the hash (ZCARD ≠ HLEN): under the lease, in chunks (HSCAN, then ZSCAN for ids no
   * longer in the hash), then a new generation. Replicas that find the lease taken wait for the index to
   * match. Returns how many ids were added or removed.
   */
  async migrate(): Promise<number> {
    for (;;) {
      const [hlen, zcard, legacy] = await this.redis.quotesLayout(this.keys.quotes, this.keys.ids, this.keys.legacyVersion);
      if (hlen === zcard) {
        if (legacy === 1) await this.redis.del(this.keys.legacyVersion);
        return 0;
      }
      const changed = await this.withLease((held) => this.rebuildIds(held));
      if (changed !== undefined) return changed;
      await sleep(this.pollMs);
    }
  }

  private async rebuildIds(held: () => void): Promise<number> {
    let changed = 0;
    let cursor = '0';
    do {
      held();
      const [next, pairs] = await this.redis.hscan(this.keys.quotes, cursor, 'COUNT', this.chunkSize);
      cursor = next;
      const ids = pairs.filter((_, i) => i % 2 === 0);
      if (ids.length > 0) changed += await this.redis.quotesIndexIds(this.keys.quotes, this.keys.ids, ...ids);
    } while (cursor !== '0');
    if ((await this.redis.zcard(this.keys.ids)) !== (await this.redis.hlen(this.keys.quotes))) {
      do {
        held();
        const [next, pairs] = await this.redis.zscan(this.keys.ids, cursor, 'COUNT', this.chunkSize);
        cursor = next;
        const ids = pairs.filter((_, i) => i % 2 === 0);
        if (ids.length > 0) changed += await this.redis.quotesUnindexMissing(this.keys.quotes, this.keys.ids, ...ids);
      } while (cursor !== '0');
    }
    await this.redis.quotesBumpGeneration(this.keys.generation);
    await this.redis.del(this.keys.legacyVersion);
    return changed;
  }

  /**
   * Runs `work` holding the lease (SET NX PX, renewed every third of its TTL, released only by its owner);
   * undefined when another holds it or this one lost it midway. `work` calls `held()` before each step,
   * which throws once the lease is lost.
   */
  private async withLease<T>(work: (held: () => void) => Promise<T>): Promise<T | undefined> {
    const token = randomUUID();
    const ttl = String(this.leaseTtlMs);
    if ((await this.redis.set(this.keys.lease, token, 'PX', this.leaseTtlMs, 'NX')) !== 'OK') return undefined;
    let lost = false;
    const renew = setInterval(() => {
      this.redis.quotesRenewLease(this.keys.lease, token, ttl).then(
        (ok) => {
          if (ok !== 1) lost = true;
        },
        // A failed renewal is retried at the next tick; the chunk scripts keep the data right meanwhile.
        () => undefined,
      );
    }, this.leaseTtlMs / 3);
    renew.unref();
    try {
      return await work(() => {
        if (lost) throw new LeaseLost('the lease expired');
      });
    } catch (err) {
      if (err instanceof LeaseLost) return undefined;
      throw err;
    } finally {
      clearInterval(renew);
      await this.redis.quotesReleaseLease(this.keys.lease, token).catch(() => undefined);
    }
  }
}

function toChange(streamId: string, fields: string[]): QuoteChange {
  const values = new Map<string, string>();
  for (let i = 0; i + 1 < fields.length; i += 2) values.set(fields[i] as string, fields[i + 1] as string);
  const op = values.get('op') === 'del' ? 'del' : 'put';
  const change: QuoteChange = { streamId, op, id: Number(values.get('id')) };
  const json = values.get('quote');
  if (op === 'put' && json !== undefined) change.quote = parseQuote(json);
  return change;
}

async function* fromArray(texts: readonly string[]): AsyncGenerator<string> {
  yield* texts;
}

function ownedResult(result: string | null): OwnedWrite {
  if (result === null) return { status: 'not_found' };
  if (result === 'FORBIDDEN') return { status: 'forbidden' };
  return { status: 'ok', quote: parseQuote(result) };
}

function defineOnce(redis: Redis, name: string, numberOfKeys: number, lua: string): void {
  if (!(name in redis)) redis.defineCommand(name, { numberOfKeys, lua });
}
