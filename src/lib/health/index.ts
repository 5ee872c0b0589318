import type { FastifyInstance } from 'fastify';

/** One named readiness check; resolves when healthy, throws to say why not. */
export interface HealthCheck {
  readonly name: string;
  run(): Promise<void>;
}

export interface CheckResult {
  readonly name: string;
  readonly status: 'pass' | 'fail';
  readonly latency_ms: number;
  readonly error?: string;
}

const CHECK_TIMEOUT_MS = 800;

/** Runs every check in parallel, each bounded in time, so a health probe never hangs. */
export async function runChecks(checks: readonly HealthCheck[]): Promise<CheckResult[]> {
  return Promise.all(
    checks.map(async (check) => {
      const started = performance.now();
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          check.run(),
          new Promise((_, reject) => {
            timer = setTimeout(() => reject(new Error(`timed out after ${CHECK_TIMEOUT_MS} ms`)), CHECK_TIMEOUT_MS);
          }),
        ]);
        return { name: check.name, status: 'pass', latency_ms: round(performance.now() - started) } as const;
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

/**
 * Registers `GET <path>` answering the original's exact `{"message":"healthy"}`
 * when every check passes, and 503 `{"message":"unhealthy","checks":[…]}` otherwise.
 * `GET <path>/live` only says the process answers (liveness).
 */
export function registerHealthRoutes(app: FastifyInstance, path: string, checks: readonly HealthCheck[]): void {
  const tags = ['health'];
  app.get(
    path,
    {
      schema: {
        tags,
        summary: 'Readiness: Redis reachable and seeding done',
        response: {
          200: {
            type: 'object',
            properties: { message: { type: 'string', enum: ['healthy'] } },
            required: ['message'],
          },
          503: {
            type: 'object',
            properties: {
              message: { type: 'string', enum: ['unhealthy'] },
              checks: {
                type: 'array',
                items: {
                  type: 'object',
                  properties: {
                    name: { type: 'string' },
                    status: { type: 'string' },
                    latency_ms: { type: 'number' },
                    error: { type: 'string' },
                  },
                },
              },
            },
          },
        },
      },
    },
    async (_request, reply) => {
      const results = await runChecks(checks);
      if (results.every((r) => r.status === 'pass')) return { message: 'healthy' };
      reply.code(503);
      return { message: 'unhealthy', checks: results };
    },
  );
  app.get(
    `${path}/live`,
    {
      schema: {
        tags,
        summary: 'Liveness: the process answers',
        response: { 200: { type: 'object', properties: { message: { type: 'string' } } } },
      },
    },
    async () => ({ message: 'alive' }),
  );
}
