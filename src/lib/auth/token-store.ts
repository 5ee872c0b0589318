import { createHash, randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';

/** SHA-256 of a token, hex: what Redis stores instead of the token itself. */
export function tokenDigest(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/**
 * The hash of accounts (user id → user JSON) under a key prefix. The users store owns its content; sessions read
 * it, so that a token is issued only for an account that exists and answers only while it still does.
 */
export function accountsKey(prefix: string): string {
  return `${prefix}users`;
}

// KEYS: token key, the user's token set, the accounts hash. ARGV: user id, TTL in seconds, token digest.
// The account's existence and the new session are one atomic step: a login that races the deletion of its
// user either lands before it (and the deletion revokes the session with the others) or finds no account.
const ISSUE = `
if redis.call('HEXISTS', KEYS[3], ARGV[1]) == 0 then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
redis.call('SADD', KEYS[2], ARGV[3])
redis.call('EXPIRE', KEYS[2], ARGV[2])
return 1
`;

// KEYS: token key, the accounts hash. A token answers only while its account exists (read-only).
const RESOLVE = `
local id = redis.call('GET', KEYS[1])
if not id then return nil end
if redis.call('HEXISTS', KEYS[2], id) == 0 then return nil end
return id
`;

interface SessionCommands {
  sessionIssue(tokenKey: string, setKey: string, accounts: string, userId: string, ttl: number, digest: string): Promise<number>;
  sessionResolve(tokenKey: string, accounts: string): Promise<string | null>;
}

/**
 * Owns the session keys: `token:<sha256>` → user id (with TTL) and
 * `user-tokens:<userId>` → set of digests, so deleting a user revokes them all.
 * Only digests reach Redis; a dump of the database holds no usable token.
 * A session is issued only for an existing account and answers only while the account exists.
 */
export class TokenStore {
  private readonly redis: Redis & SessionCommands;
  private readonly accounts: string;

  constructor(
    redis: Redis,
    private readonly prefix: string,
    private readonly ttlSeconds: number,
  ) {
    this.redis = redis as Redis & SessionCommands;
    this.accounts = accountsKey(prefix);
    if (!('sessionIssue' in redis)) {
      redis.defineCommand('sessionIssue', { numberOfKeys: 3, lua: ISSUE });
      redis.defineCommand('sessionResolve', { numberOfKeys: 2, lua: RESOLVE });
    }
  }

  private tokenKey(digest: string): string {
    return `${this.prefix}token:${digest}`;
  }

  /** Key of a user's token set; `userId` must already be a validated slug. */
  userTokensKey(userId: string): string {
    return `${this.prefix}user-tokens:${userId}`;
  }

  /**
   * Issues a 256-bit random token for a user and returns it (the only time it exists in clear); null when the
   * account no longer exists (deleted while its password was being checked).
   */
  async issue(userId: string): Promise<string | null> {
    const token = randomBytes(32).toString('base64url');
    const digest = tokenDigest(token);
    const issued = await this.redis.sessionIssue(
      this.tokenKey(digest),
      this.userTokensKey(userId),
      this.accounts,
      userId,
      this.ttlSeconds,
      digest,
    );
    return issued === 1 ? token : null;
  }

  /** The user id a token belongs to, or null when unknown, expired, or its account is gone. */
  async resolve(token: string): Promise<string | null> {
    return this.redis.sessionResolve(this.tokenKey(tokenDigest(token)), this.accounts);
  }

  /**
   * Revokes one token; true when it existed. Works while Redis is full: DEL and SREM free memory, so Redis runs
   * them at maxmemory, but it refuses every command queued in a MULTI then, so they go as a plain pipeline. Both
   * only remove: a digest left in the set without its key counts as no session (`countSessions`).
   */
  async revoke(token: string, userId: string): Promise<boolean> {
    const digest = tokenDigest(token);
    const results = await this.redis.pipeline().del(this.tokenKey(digest)).srem(this.userTokensKey(userId), digest).exec();
    const [deleted, removed] = results ?? [];
    if (deleted?.[0]) throw deleted[0];
    if (removed?.[0]) throw removed[0];
    return deleted?.[1] === 1;
  }

  /** Number of live sessions per user id, without revealing any token. */
  async countSessions(userIds: readonly string[]): Promise<Map<string, number>> {
    const counts = new Map<string, number>();
    if (userIds.length === 0) return counts;
    const pipeline = this.redis.pipeline();
    for (const id of userIds) pipeline.smembers(this.userTokensKey(id));
    const sets = (await pipeline.exec()) ?? [];
    // A set may still list digests whose keys expired; check them in one round trip.
    const check = this.redis.pipeline();
    const owners: string[] = [];
    sets.forEach(([, members], i) => {
      for (const digest of (members as string[]) ?? []) {
        check.exists(this.tokenKey(digest));
        owners.push(userIds[i] as string);
      }
      counts.set(userIds[i] as string, 0);
    });
    if (owners.length > 0) {
      const alive = (await check.exec()) ?? [];
      alive.forEach(([, exists], i) => {
        if (exists === 1) counts.set(owners[i] as string, (counts.get(owners[i] as string) ?? 0) + 1);
      });
    }
    return counts;
  }

  /** Where a user's sessions live, for revoking them atomically when the user is removed. */
  sessionsOf(userId: string): { readonly setKey: string; readonly tokenKeyPrefix: string } {
    return { setKey: this.userTokensKey(userId), tokenKeyPrefix: this.tokenKey('') };
  }
}
