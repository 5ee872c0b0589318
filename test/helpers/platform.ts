import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { freePorts } from '../../src/lib/net/index.ts';
import { findExecutable, REDIS_MISSING_MESSAGE } from '../../src/platform/runner/index.ts';

/** Every listener the local platform opens, by the variable that sets its port. */
export const PLATFORM_PORT_VARIABLES = [
  'GATEWAY_PORT',
  'GATEWAY_METRICS_PORT',
  'USERS_PORT',
  'QUOTES_PORT',
  'SEARCH_PORT',
  'OPS_PORT',
  'USERS_METRICS_PORT',
  'QUOTES_METRICS_PORT',
  'SEARCH_METRICS_PORT',
  'OPS_METRICS_PORT',
  'REDIS_PORT',
  'ALERT_SINK_PORT',
  'PROMETHEUS_PORT',
  'ALERTMANAGER_PORT',
] as const;

/** Tests never skip: without redis-server on PATH they fail saying how to install it. */
export function requireRedisServer(): void {
  if (findExecutable('redis-server', process.env.PATH) === undefined) {
    assert.fail(`redis-server is not on PATH; the platform tests need it. ${REDIS_MISSING_MESSAGE}`);
  }
}

/**
 * The environment of a local platform under `varDir`: this process's
 * environment, every listener on a port free a moment ago (so test files
 * running in parallel never collide on the defaults), its own private Redis
 * (REDIS_URL and REDIS_SENTINELS unset), monitoring off, no rate limit,
 * LOG_LEVEL INFO; `overrides` last.
 */
export async function platformEnv(
  varDir: string,
  overrides: Readonly<Record<string, string | undefined>> = {},
): Promise<NodeJS.ProcessEnv> {
  const free = await freePorts(PLATFORM_PORT_VARIABLES.length);
  const ports = Object.fromEntries(PLATFORM_PORT_VARIABLES.map((name, i) => [name, String(free[i])]));
  return {
    ...process.env,
    HADDOCK_VAR_DIR: varDir,
    ...ports,
    MONITORING: 'off',
    REDIS_URL: undefined,
    REDIS_SENTINELS: undefined,
    RATE_LIMIT_PER_MINUTE: '0',
    LOG_LEVEL: 'INFO',
    ...overrides,
  };
}

/** Whether nothing listens on `port` (127.0.0.1): a stopped platform leaves its ports free. */
export async function portIsFree(port: number): Promise<boolean> {
  const server = createServer();
  return new Promise((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** Whether the process `pid` has exited. */
export function isGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return false;
  } catch {
    return true;
  }
}

/**
 * Polls `probe` every `everyMs` until it returns something other than
 * undefined, and returns that; fails after `ms` saying what was awaited and
 * the probe's last error.
 */
export async function until<T>(what: string, ms: number, probe: () => Promise<T | undefined>, everyMs = 100): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
  throw new Error(`${what}: not within ${ms / 1000} s${last instanceof Error ? ` (last error: ${last.message})` : ''}`);
}

/** Waits until users, quotes and search answer their health route through the gateway at `gateway`. */
export async function waitHealthy(gateway: string, ms = 20_000): Promise<void> {
  let states: number[] = [];
  await until(
    'users, quotes and search healthy through the gateway',
    ms,
    async () => {
      states = await Promise.all(
        ['users', 'quotes', 'search'].map((s) =>
          fetch(`${gateway}/${s}/health`).then(
            async (r) => {
              await r.arrayBuffer();
              return r.status;
            },
            () => 0,
          ),
        ),
      );
      if (states.every((status) => status === 200)) return true;
      throw new Error(`health statuses ${states.join(', ')}`);
    },
    200,
  );
}
