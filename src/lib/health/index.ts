import type { FastifyInstance } from 'fastify';

/**
 * What a passing check may add: the dependency answers, but serves only part of what it should (Redis full:
 * reads work, writes are refused). The service stays ready; the readiness details say it.
 */
export interface CheckDegraded {
  readonly degraded: string;
}

/** One named readiness check; resolves when healthy (with `{ degraded }` when only partly), throws to say why not. */
export interface HealthCheck {
  readonly name: string;
  run(): Promise<void> | Promise<CheckDegraded | undefined>;
}

export interface CheckResult {
  readonly name: string;
  readonly status: 'pass' | 'fail';
  readonly latency_ms: number;
  readonly error?: string;
  /** Set on a passing check that serves only partly, saying what is missing. */
  readonly degraded?: string;
}

const CHECK_TIMEOUT_MS = 800;

/** Runs every check in parallel, each bounded in time, so a health probe never hangs. */
export async function runChecks(checks: readonly HealthCheck[]): Promise<CheckResult[]> {
  return Promise.all(
    checks.map(async (check) => {
      const started = performance.now();
      let timer: NodeJS.Timeout | undefined;
      try {
        const outcome = await Promise.race([
          check.run(),
          new Promise<never>((_, reject) => {
            timer = setTimeout(() => reject(new Error(`timed out after ${CHECK_TIMEOUT_MS} ms`)), CHECK_TIMEOUT_MS);
          }),
        ]);
        const passed = { name: check.name, status: 'pass', latency_ms: round(performance.now() - started) } as const;
        return outcome === undefined ? passed : { ...passed, degraded: outcome.degraded };
      } catch (err) {
        return {
          name: check.name,
          status: 'fail',
          latency_ms: round(performance.now() - started),
          error: err instanceof Error ? err.message : String(err),
        } as const;
      } finally {
        clearTimeout(timer);
      }
    }),
  );
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}

const CHECK_SCHEMA = {
  type: 'object',
  properties: {
    name: { type: 'string', description: 'redis, seed…' },
    status: { type: 'string', enum: ['pass', 'fail'] },
    latency_ms: { type: 'number' },
    error: { type: 'string', description: 'Why the check failed' },
    degraded: {
      type: 'string',
      description: 'A passing check serving only partly: what is missing (Redis full: writes refused)',
    },
  },
  required: ['name', 'status', 'latency_ms'],
} as const;

const DETAILED_SCHEMA = (message: 'healthy' | 'unhealthy') =>
  ({
    type: 'object',
    properties: {
      message: { type: 'string', enum: [message] },
      degraded: { type: 'boolean', description: 'A check passes only partly (see its `degraded`): ready, with less service' },
      checks: { type: 'array', items: CHECK_SCHEMA },
    },
    required: ['message', 'degraded', 'checks'],
  }) as const;

/**
 * Registers the health routes under `path` (`/quotes/health`):
 * - `GET <path>`: readiness answering the original's exact `{"message":"healthy"}`
 *   when every check passes (clients compare it whole), and 503
 *   `{"message":"unhealthy","checks":[…]}` otherwise;
 * - `GET <path>/ready`: the same readiness, always with the checks (200 or 503), and `degraded: true` when a
 *   passing check serves only partly (Redis full: reads served, writes refused): still 200, as a pod that serves
 *   reads must stay in rotation; `GET <path>` keeps its exact body then;
 * - `GET <path>/live`: liveness, the process answers (no dependency checked).
 * Their completion lines are logged at debug: probes run every few seconds.
 */
export function registerHealthRoutes(app: FastifyInstance, path: string, checks: readonly HealthCheck[]): void {
  const tags = ['health'];
  const names = checks.map((c) => c.name).join(', ');
  const config = { quietLog: true };
  app.get(
    path,
    {
      config,
      schema: {
        tags,
        summary: `Readiness (${names}): exactly {"message":"healthy"}, or 503 with the failing checks`,
        response: {
          200: {
            type: 'object',
            properties: { message: { type: 'string', enum: ['healthy'] } },
            required: ['message'],
          },
          503: DETAILED_SCHEMA('unhealthy'),
        },
      },
    },
    async (_request, reply) => {
      const results = await runChecks(checks);
      if (results.every((r) => r.status === 'pass')) return { message: 'healthy' };
      reply.code(503);
      return { message: 'unhealthy', degraded: results.some((r) => r.degraded !== undefined), checks: results };
    },
  );
  app.get(
    `${path}/ready`,
    {
      config,
      schema: {
        tags,
        summary: `Readiness with every check's result (${names}), healthy or not`,
        response: { 200: DETAILED_SCHEMA('healthy'), 503: DETAILED_SCHEMA('unhealthy') },
      },
    },
    async (_request, reply) => {
      const results = await runChecks(checks);
      const healthy = results.every((r) => r.status === 'pass');
      reply.code(healthy ? 200 : 503);
      const degraded = results.some((r) => r.degraded !== undefined);
      return { message: healthy ? 'healthy' : 'unhealthy', degraded, checks: results };
    },
  );
  app.get(
    `${path}/live`,
    {
      config,
      schema: {
        tags,
        summary: 'Liveness: the process answers (no dependency is checked)',
        response: {
          200: { type: 'object', properties: { message: { type: 'string', enum: ['alive'] } }, required: ['message'] },
        },
      },
    },
    async () => ({ message: 'alive' }),
  );
}
