import { createHash, randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';

/** SHA-256 of a token, hex: what Redis stores instead of the token itself. */
export function tokenDigest(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/**
 * Owns the session keys: `token:<sha256>` → user id (with TTL) and
 * `user-tokens:<userId>` → set of digests, so deleting a user revokes them all.
 * Only digests reach Redis; a dump of the database holds no usable token.
 */
export class TokenStore {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly ttlSeconds: number,
  ) {}

  private tokenKey(digest: string): string {
    return `${this.prefix}token:${digest}`;
  }

  /** Key of a user's token set; `userId` must already be a validated slug. */
  userTokensKey(userId: string): string {
    return `${this.prefix}user-tokens:${userId}`;
  }

  /** Issues a 256-bit random token for a user and returns it (the only time it exists in clear). */
  async issue(userId: string): Promise<string> {
    const token = randomBytes(32).toString('base64url');
    const digest = tokenDigest(token);
    await this.redis
      .multi()
      .set(this.tokenKey(digest), userId, 'EX', this.ttlSeconds)
      .sadd(this.userTokensKey(userId), digest)
      .expire(this.userTokensKey(userId), this.ttlSeconds)
      .exec();
    return token;
  }

  /** The user id a token belongs to, or null when unknown or expired. */
  async resolve(token: string): Promise<string | null> {
    return this.redis.get(this.tokenKey(tokenDigest(token)));
  }

  /** Revokes one token; true when it existed. */
  async revoke(token: string, userId: string): Promise<boolean> {
    const digest = tokenDigest(token);
    const results = await this.redis.multi().del(this.tokenKey(digest)).srem(this.userTokensKey(userId), digest).exec();
    return results?.[0]?.[1] === 1;
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
