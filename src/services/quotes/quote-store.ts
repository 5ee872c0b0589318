import type { Redis } from 'ioredis';

/** A stored quote. `user_id` is absent for the seed curses (they belong to nobody). */
export interface Quote {
  id: number;
  quote: string;
  user_id?: string;
  created_at?: string;
  updated_at?: string;
}

/** Every Redis key of the quotes domain, under the platform's prefix. */
export function quoteKeys(prefix: string) {
  return {
    /** hash: id → quote JSON */
    quotes: `${prefix}quotes`,
    /** string: last id handed out */
    nextId: `${prefix}quotes:next-id`,
    /** string: bumped by every write, so readers know when their copy is stale */
    version: `${prefix}quotes:version`,
    /** string: set once, when the seed file has been loaded */
    seeded: `${prefix}quotes:seeded`,
  } as const;
}

export type QuoteKeys = ReturnType<typeof quoteKeys>;

// A missing version key (a new or emptied database) starts from the server's
// clock in microseconds, not from 1: a reader's cached copy from before the
// loss can never carry a version number the new data reaches again.
const BUMP_VERSION = `
if redis.call('EXISTS', KEYS[3]) == 0 then
  local t = redis.call('TIME')
  redis.call('SET', KEYS[3], t[1] .. string.format('%06d', tonumber(t[2])))
end
redis.call('INCR', KEYS[3])
`;

// Every write is one atomic script: the data, the id counter and the version
// move together, so no reader sees one without the other.
const SEED = `
if redis.call('EXISTS', KEYS[4]) == 1 then return 0 end
local n = 0
for i = 2, #ARGV, 2 do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
  n = n + 1
end
local current = tonumber(redis.call('GET', KEYS[2]) or '0')
if current < n then redis.call('SET', KEYS[2], n) end
${BUMP_VERSION}redis.call('SET', KEYS[4], ARGV[1])
return n
`;

const CREATE = `
local id = redis.call('INCR', KEYS[2])
local quote = { id = id, quote = ARGV[1], created_at = ARGV[3] }
if ARGV[2] ~= '' then quote.user_id = ARGV[2] end
local json = cjson.encode(quote)
redis.call('HSET', KEYS[1], id, json)
${BUMP_VERSION}return json
`;

const APPEND_MANY = `
local first = redis.call('INCRBY', KEYS[2], #ARGV - 1) - (#ARGV - 1) + 1
for i = 2, #ARGV do
  local id = first + i - 2
  redis.call('HSET', KEYS[1], id, cjson.encode({ id = id, quote = ARGV[i], created_at = ARGV[1] }))
end
${BUMP_VERSION}return #ARGV - 1
`;

// ARGV: id, actor user id ('' for an admin), then for an update the new text and time.
// Returns nil when absent, 'FORBIDDEN' when the actor does not own the quote.
const OWNER_CHECK = `
local json = redis.call('HGET', KEYS[1], ARGV[1])
if not json then return nil end
local quote = cjson.decode(json)
if ARGV[2] ~= '' and quote.user_id ~= ARGV[2] then return 'FORBIDDEN' end
`;

const UPDATE = `${OWNER_CHECK}
quote.quote = ARGV[3]
quote.updated_at = ARGV[4]
json = cjson.encode(quote)
redis.call('HSET', KEYS[1], ARGV[1], json)
${BUMP_VERSION}return json
`;

const DELETE = `${OWNER_CHECK}
redis.call('HDEL', KEYS[1], ARGV[1])
${BUMP_VERSION}return json
`;

interface QuoteCommands {
  quotesSeed(k1: string, k2: string, k3: string, k4: string, ...args: string[]): Promise<number>;
  quotesCreate(k1: string, k2: string, k3: string, ...args: string[]): Promise<string>;
  quotesAppendMany(k1: string, k2: string, k3: string, ...args: string[]): Promise<number>;
  quotesUpdate(k1: string, k2: string, k3: string, ...args: string[]): Promise<string | null>;
  quotesDelete(k1: string, k2: string, k3: string, ...args: string[]): Promise<string | null>;
}

/** Result of an owner-checked write. */
export type OwnedWrite = { status: 'ok'; quote: Quote } | { status: 'not_found' } | { status: 'forbidden' };

/** A consistent copy of every quote, ordered by id, and the version it was read at. */
export interface QuoteSnapshot {
  readonly version: string;
  readonly quotes: readonly Quote[];
}

/** Parses a stored quote; cjson writes ids as numbers and may escape slashes, both fine for JSON.parse. */
export function parseQuote(json: string): Quote {
  const raw = JSON.parse(json) as Quote;
  const quote: Quote = { id: Number(raw.id), quote: raw.quote };
  if (typeof raw.user_id === 'string') quote.user_id = raw.user_id;
  if (raw.created_at) quote.created_at = raw.created_at;
  if (raw.updated_at) quote.updated_at = raw.updated_at;
  return quote;
}

/**
 * Owns the quotes keys. Single-quote reads are one Redis round trip; list
 * reads come from an in-memory snapshot revalidated with one `GET version`.
 */
export class QuoteStore {
  readonly keys: QuoteKeys;
  private readonly redis: Redis & QuoteCommands;
  private snapshot: QuoteSnapshot | undefined;
  private loading: Promise<QuoteSnapshot> | undefined;

  constructor(redis: Redis, prefix: string) {
    this.keys = quoteKeys(prefix);
    this.redis = redis as Redis & QuoteCommands;
    defineOnce(redis, 'quotesSeed', 4, SEED);
    defineOnce(redis, 'quotesCreate', 3, CREATE);
    defineOnce(redis, 'quotesAppendMany', 3, APPEND_MANY);
    defineOnce(redis, 'quotesUpdate', 3, UPDATE);
    defineOnce(redis, 'quotesDelete', 3, DELETE);
  }

  /**
   * Moves the catalogue version to the server's clock (microseconds), past any
   * version a reader can hold: after a restore replaced the keys underneath,
   * every cached copy, even one taken from the restored data's own version
   * number before, is reloaded on its next read.
   */
  async invalidateSnapshots(): Promise<void> {
    const [seconds, micros] = await this.redis.time();
    await this.redis.set(this.keys.version, `${seconds}${String(micros).padStart(6, '0')}`);
  }

  private get writeKeys(): [string, string, string] {
    return [this.keys.quotes, this.keys.nextId, this.keys.version];
  }

  /**
   * Loads the seed quotes with ids 1..n unless this database was seeded
   * before. Atomic: of several replicas starting together exactly one loads.
   * Returns the number inserted (0 when already seeded).
   */
  async seed(texts: readonly string[]): Promise<number> {
    const now = new Date().toISOString();
    const args: string[] = [now];
    texts.forEach((quote, i) => {
      args.push(String(i + 1), JSON.stringify({ id: i + 1, quote, created_at: now }));
    });
    return this.redis.quotesSeed(...this.writeKeys, this.keys.seeded, ...args);
  }

  async isSeeded(): Promise<boolean> {
    return (await this.redis.exists(this.keys.seeded)) === 1;
  }

  /** Bulk insert (bench and imports), in chunks so no script blocks Redis for long. */
  async appendMany(texts: readonly string[], chunkSize = 2_000): Promise<number> {
    let inserted = 0;
    const now = new Date().toISOString();
    for (let i = 0; i < texts.length; i += chunkSize) {
      inserted += await this.redis.quotesAppendMany(...this.writeKeys, now, ...texts.slice(i, i + chunkSize));
    }
    return inserted;
  }

  async create(quote: string, userId: string | null): Promise<Quote> {
    const json = await this.redis.quotesCreate(...this.writeKeys, quote, userId ?? '', new Date().toISOString());
    return parseQuote(json);
  }

  async get(id: number): Promise<Quote | null> {
    const json = await this.redis.hget(this.keys.quotes, String(id));
    return json === null ? null : parseQuote(json);
  }

  async random(): Promise<Quote | null> {
    const pair = (await this.redis.hrandfield(this.keys.quotes, 1, 'WITHVALUES')) as string[];
    return pair.length < 2 ? null : parseQuote(pair[1] as string);
  }

  /** Updates a quote's text; `actor` null means an admin (no ownership check). */
  async update(id: number, text: string, actor: string | null): Promise<OwnedWrite> {
    const result = await this.redis.quotesUpdate(...this.writeKeys, String(id), actor ?? '', text, new Date().toISOString());
    return ownedResult(result);
  }

  async delete(id: number, actor: string | null): Promise<OwnedWrite> {
    return ownedResult(await this.redis.quotesDelete(...this.writeKeys, String(id), actor ?? ''));
  }

  async count(): Promise<number> {
    return this.redis.hlen(this.keys.quotes);
  }

  /**
   * Every quote ordered by id, from memory when nobody wrote since the last
   * read: one `GET version` per call, a full reload only after a change.
   * Concurrent callers share one reload.
   */
  async all(): Promise<QuoteSnapshot> {
    const version = (await this.redis.get(this.keys.version)) ?? '0';
    if (this.snapshot?.version === version) return this.snapshot;
    this.loading ??= this.reload().finally(() => {
      this.loading = undefined;
    });
    return this.loading;
  }

  private async reload(): Promise<QuoteSnapshot> {
    // Two reads in one round trip, not a MULTI: at maxmemory Redis refuses every command queued in a
    // transaction, reads included, and the list and search would fail until memory is freed. Without
    // a transaction the version is read first, so the label is never newer than the data: a write in
    // between only makes the next call reload once more, never serve stale data as current.
    const results = await this.redis.pipeline().get(this.keys.version).hgetall(this.keys.quotes).exec();
    if (results === null) throw new Error('quotes snapshot pipeline returned nothing');
    const [versionResult, dataResult] = results;
    if (versionResult?.[0]) throw versionResult[0];
    if (dataResult?.[0]) throw dataResult[0];
    const data = dataResult?.[1] as Record<string, string>;
    const quotes = Object.values(data).map(parseQuote);
    quotes.sort((a, b) => a.id - b.id);
    this.snapshot = { version: (versionResult?.[1] as string | null) ?? '0', quotes };
    return this.snapshot;
  }
}

function ownedResult(result: string | null): OwnedWrite {
  if (result === null) return { status: 'not_found' };
  if (result === 'FORBIDDEN') return { status: 'forbidden' };
  return { status: 'ok', quote: parseQuote(result) };
}

function defineOnce(redis: Redis, name: string, numberOfKeys: number, lua: string): void {
  if (!(name in redis)) redis.defineCommand(name, { numberOfKeys, lua });
}
