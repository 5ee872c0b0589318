import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest, onRequestAsyncHookHandler } from 'fastify';
import { appError } from '../errors/index.ts';
import type { TokenStore } from './token-store.ts';

export { burnPasswordCheck, hashPassword, verifyPassword } from './passwords.ts';
export { accountsKey, TokenStore, tokenDigest } from './token-store.ts';

/** Who is calling: an administrator (ADMIN_KEY holder) or a logged-in user. */
export type Principal =
  | { readonly role: 'admin'; readonly userId: null; readonly token: string }
  | { readonly role: 'user'; readonly userId: string; readonly token: string };

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal | null;
  }
}

/** Longest credential we look at; anything longer is refused before hashing. */
const MAX_CREDENTIAL_LENGTH = 512;

/**
 * Reads the credential from `Authorization`: the raw token (as the original
 * platform's clients send it) or `Bearer <token>`.
 */
export function readCredential(header: string | undefined): string | null {
  if (header === undefined) return null;
  const value = header.trim();
  // `Bearer` alone (the header trimmed) is a scheme without a token, not a token.
  const token = /^bearer(\s+|$)/i.test(value) ? value.replace(/^bearer(\s+|$)/i, '') : value;
  return token.length === 0 || token.length > MAX_CREDENTIAL_LENGTH ? null : token;
}

export interface Authenticator {
  /** Resolves the caller, or throws 401. */
  authenticate(request: FastifyRequest): Promise<Principal>;
  /** onRequest hook: any logged-in user or admin. */
  readonly requireUser: onRequestAsyncHookHandler;
  /** onRequest hook: admin only (401 without credential, 403 for a plain user). */
  readonly requireAdmin: onRequestAsyncHookHandler;
  isAdminKey(credential: string): boolean;
}

/** Builds the authentication hooks shared by every service. */
export function createAuthenticator(tokens: TokenStore, adminKeys: readonly string[]): Authenticator {
  const digest = (value: string) => createHash('sha256').update(value).digest();
  const adminDigests = adminKeys.map(digest);

  const isAdminKey = (credential: string): boolean => {
    const candidate = digest(credential);
    // Compare against every key so the time taken does not say which matched.
    let match = false;
    for (const key of adminDigests) match = timingSafeEqual(key, candidate) || match;
    return match;
  };

  const authenticate = async (request: FastifyRequest): Promise<Principal> => {
    const credential = readCredential(request.headers.authorization);
    if (credential === null) throw appError('AUTH_REQUIRED');
    if (isAdminKey(credential)) return { role: 'admin', userId: null, token: credential };
    const userId = await tokens.resolve(credential);
    if (userId === null) throw appError('TOKEN_INVALID');
    return { role: 'user', userId, token: credential };
  };

  return {
    authenticate,
    isAdminKey,
    requireUser: async (request) => {
      request.principal = await authenticate(request);
    },
    requireAdmin: async (request) => {
      const principal = await authenticate(request);
      if (principal.role !== 'admin') throw appError('ADMIN_REQUIRED');
      request.principal = principal;
    },
  };
}
