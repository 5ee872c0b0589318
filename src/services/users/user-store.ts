import type { Redis } from 'ioredis';
import { accountsKey } from '../../lib/auth/index.ts';

/** A user as stored: never leaves this module with its password hash except for login checks. */
export interface StoredUser {
  id: string;
  name: string;
  password_hash: string;
  created_at: string;
}

/** A user as every route answers it: no hash, no token. */
export interface PublicUser {
  id: string;
  name: string;
  created_at?: string;
}

export function userKeys(prefix: string) {
  return {
    /** hash: user id → user JSON (with the scrypt hash); sessions check it on every request */
    users: accountsKey(prefix),
    /** set: ids of deleted users, never given again (quotes keep their author's id) */
    retired: `${prefix}users:retired`,
    /** hash: user name → user id (the login index) */
    byName: `${prefix}users:by-name`,
    /** string: set once, when the seed file has been loaded */
    seeded: `${prefix}users:seeded`,
  } as const;
}

// KEYS: users, by-name, seeded, retired. ARGV: now, then id, name, json triples. Users whose id or name exists,
// or whose id was retired, are skipped.
const SEED = `
if redis.call('EXISTS', KEYS[3]) == 1 then return 0 end
local n = 0
for i = 2, #ARGV, 3 do
  if redis.call('HEXISTS', KEYS[1], ARGV[i]) == 0 and redis.call('HEXISTS', KEYS[2], ARGV[i + 1]) == 0
    and redis.call('SISMEMBER', KEYS[4], ARGV[i]) == 0 then
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 2])
    redis.call('HSET', KEYS[2], ARGV[i + 1], ARGV[i])
    n = n + 1
  end
end
redis.call('SET', KEYS[3], ARGV[1])
return n
`;

// KEYS: users, by-name, retired. An id once deleted stays taken: whoever gets it would own its quotes.
const CREATE = `
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 or redis.call('SISMEMBER', KEYS[3], ARGV[1]) == 1 then
  return 'ID_TAKEN'
end
if redis.call('HEXISTS', KEYS[2], ARGV[2]) == 1 then return 'NAME_TAKEN' end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('HSET', KEYS[2], ARGV[2], ARGV[1])
return 'OK'
`;

const FIND_BY_NAME = `
local id = redis.call('HGET', KEYS[2], ARGV[1])
if not id then return nil end
return redis.call('HGET', KEYS[1], id)
`;

// KEYS[3] is the user's token set, KEYS[4] the retired ids; ARGV[2] the prefix
// of token keys. The sessions are revoked in the same atomic step (a login
// racing it is refused by the session script, which checks the account), and
// the id is retired so no later account inherits the user's quotes. (Token keys
// are derived inside the script: fine on one Redis or Sentinel; a Cluster would
// need hash tags.)
const DELETE = `
local json = redis.call('HGET', KEYS[1], ARGV[1])
if not json then return 0 end
local user = cjson.decode(json)
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('SADD', KEYS[4], ARGV[1])
if redis.call('HGET', KEYS[2], user.name) == ARGV[1] then redis.call('HDEL', KEYS[2], user.name) end
for _, digest in ipairs(redis.call('SMEMBERS', KEYS[3])) do redis.call('DEL', ARGV[2] .. digest) end
redis.call('DEL', KEYS[3])
return 1
`;

interface UserCommands {
  usersSeed(k1: string, k2: string, k3: string, k4: string, ...args: string[]): Promise<number>;
  usersCreate(k1: string, k2: string, k3: string, ...args: string[]): Promise<'OK' | 'ID_TAKEN' | 'NAME_TAKEN'>;
  usersFindByName(k1: string, k2: string, name: string): Promise<string | null>;
  usersDelete(k1: string, k2: string, k3: string, k4: string, id: string, tokenKeyPrefix: string): Promise<number>;
}

/** Names are compared after Unicode NFC normalisation, so "Zoé" typed either way is one user. */
export function normalizeName(name: string): string {
  return name.normalize('NFC').trim();
}

export function toPublic(user: StoredUser): PublicUser {
  return { id: user.id, name: user.name, created_at: user.created_at };
}

/** Ids sort numerically when both are numbers ("2" before "10"), else as text. */
export function compareIds(a: string, b: string): number {
  const na = Number(a);
  const nb = Number(b);
  if (Number.isInteger(na) && Number.isInteger(nb) && a !== '' && b !== '') return na - nb;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Owns the users keys. Login is one round trip through the name index. */
export class UserStore {
  readonly keys: ReturnType<typeof userKeys>;
  private readonly redis: Redis & UserCommands;

  constructor(redis: Redis, prefix: string) {
    this.keys = userKeys(prefix);
    this.redis = redis as Redis & UserCommands;
    if (!('usersSeed' in redis)) {
      redis.defineCommand('usersSeed', { numberOfKeys: 4, lua: SEED });
      redis.defineCommand('usersCreate', { numberOfKeys: 3, lua: CREATE });
      redis.defineCommand('usersFindByName', { numberOfKeys: 2, lua: FIND_BY_NAME });
      redis.defineCommand('usersDelete', { numberOfKeys: 4, lua: DELETE });
    }
  }

  /** Loads already-hashed seed users unless this database was seeded; atomic across replicas. */
  async seed(users: readonly Omit<StoredUser, 'created_at'>[]): Promise<number> {
    const now = new Date().toISOString();
    const args: string[] = [now];
    for (const user of users) {
      const name = normalizeName(user.name);
      args.push(user.id, name, JSON.stringify({ ...user, name, created_at: now }));
    }
    return this.redis.usersSeed(this.keys.users, this.keys.byName, this.keys.seeded, this.keys.retired, ...args);
  }

  async isSeeded(): Promise<boolean> {
    return (await this.redis.exists(this.keys.seeded)) === 1;
  }

  async create(id: string, name: string, passwordHash: string): Promise<'OK' | 'ID_TAKEN' | 'NAME_TAKEN'> {
    const user: StoredUser = { id, name: normalizeName(name), password_hash: passwordHash, created_at: new Date().toISOString() };
    return this.redis.usersCreate(this.keys.users, this.keys.byName, this.keys.retired, id, user.name, JSON.stringify(user));
  }

  async findByName(name: string): Promise<StoredUser | null> {
    const json = await this.redis.usersFindByName(this.keys.users, this.keys.byName, normalizeName(name));
    return json === null ? null : (JSON.parse(json) as StoredUser);
  }

  async get(id: string): Promise<StoredUser | null> {
    const json = await this.redis.hget(this.keys.users, id);
    return json === null ? null : (JSON.parse(json) as StoredUser);
  }

  /** Every user, without secrets, ordered by id: one round trip. */
  async list(): Promise<PublicUser[]> {
    const values = await this.redis.hvals(this.keys.users);
    return values.map((json) => toPublic(JSON.parse(json) as StoredUser)).sort((a, b) => compareIds(a.id, b.id));
  }

  async count(): Promise<number> {
    return this.redis.hlen(this.keys.users);
  }

  /** Deletes a user and revokes their sessions in one step; false when the user did not exist. */
  async delete(id: string, sessions: { readonly setKey: string; readonly tokenKeyPrefix: string }): Promise<boolean> {
    const { users, byName, retired } = this.keys;
    return (await this.redis.usersDelete(users, byName, sessions.setKey, retired, id, sessions.tokenKeyPrefix)) === 1;
  }
}
