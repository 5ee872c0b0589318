import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import type { FastifyInstance } from 'fastify';
import type { Env } from '../../src/lib/config/index.ts';
import type { BuildOptions } from '../../src/lib/service/index.ts';
import { buildApp as buildQuotesApp } from '../../src/services/quotes/app.ts';
import { loadConfig as loadQuotesConfig } from '../../src/services/quotes/config.ts';
import { buildApp as buildSearchApp } from '../../src/services/search/app.ts';
import { loadConfig as loadSearchConfig } from '../../src/services/search/config.ts';
import { buildApp as buildUsersApp } from '../../src/services/users/app.ts';
import { loadConfig as loadUsersConfig } from '../../src/services/users/config.ts';
import { testRedisUrl } from './redis.ts';

export const ADMIN_KEY = 'test-admin-key-0123456789';
/** Headers of an administrator's request. */
export const ADMIN = { authorization: ADMIN_KEY } as const;

/** The demo users of data/initial_data_users.csv, with their clear passwords. */
export const SEED_USERS = [
  { id: '0', name: 'Alice', password: 'inWonderland' },
  { id: '1', name: 'Bob', password: 'squarePants' },
  { id: '2', name: 'Charlie', password: 'jeSuis' },
] as const;

export const SEED_QUOTE_COUNT = 415;

/** Where and how a test app runs; `overrides` win over the defaults (undefined removes a variable). */
export interface AppSetup {
  readonly prefix: string;
  readonly redisUrl?: string;
  readonly env?: Env;
  readonly options?: BuildOptions;
}

/** The environment every test service starts from. */
export function testEnv({ prefix, redisUrl, env }: AppSetup): Env {
  return {
    REDIS_URL: redisUrl ?? testRedisUrl(),
    REDIS_KEY_PREFIX: prefix,
    ADMIN_KEY,
    QUOTES_SEED_FILE: 'data/initial_data_quotes.csv',
    USERS_SEED_FILE: 'data/initial_data_users.csv',
    ...env,
  };
}

async function ready(app: FastifyInstance): Promise<FastifyInstance> {
  await app.ready();
  return app;
}

export async function quotesApp(setup: AppSetup): Promise<FastifyInstance> {
  return ready(await buildQuotesApp(loadQuotesConfig(testEnv(setup)), setup.options ?? { logger: false }));
}

export async function usersApp(setup: AppSetup): Promise<FastifyInstance> {
  return ready(await buildUsersApp(loadUsersConfig(testEnv(setup)), setup.options ?? { logger: false }));
}

export async function searchApp(setup: AppSetup): Promise<FastifyInstance> {
  return ready(await buildSearchApp(loadSearchConfig(testEnv(setup)), setup.options ?? { logger: false }));
}

/** Builds an app and closes it when the test ends. */
export async function scoped(t: TestContext, app: Promise<FastifyInstance>): Promise<FastifyInstance> {
  const built = await app;
  t.after(() => built.close());
  return built;
}

/** Logs in through the users service and returns the token. */
export async function login(app: FastifyInstance, name: string, password: string): Promise<string> {
  const res = await app.inject({ method: 'POST', url: '/users/login', payload: { name, password } });
  assert.equal(res.statusCode, 200, `login of ${name} failed: ${res.body}`);
  const { token } = res.json() as { token: string };
  return token;
}

/** Headers carrying a token, raw as the original clients send it. */
export function auth(token: string): { authorization: string } {
  return { authorization: token };
}

/** Polls `check` until it returns true, or fails after `timeoutMs`. */
export async function eventually(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.fail(`${what}: not true after ${timeoutMs} ms`);
}
