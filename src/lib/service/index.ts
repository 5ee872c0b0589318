import type { FastifyInstance } from 'fastify';
import { type Authenticator, createAuthenticator, TokenStore } from '../auth/index.ts';
import type { ServiceConfig } from '../config/index.ts';
import { type HealthCheck, registerHealthRoutes } from '../health/index.ts';
import { attachMetricsApp, createHttpApp } from '../http/index.ts';
import { Counter, createRedisMetrics, createRegistry, Gauge, type Registry } from '../metrics/index.ts';
import { createRedis, type Redis, RedisMemoryState, waitForRedis } from '../redis/index.ts';
import { Seeder } from '../seed/index.ts';

/** The redis check's `degraded` detail while Redis refuses writes for memory. */
export const REDIS_FULL_DETAIL = 'memory full (maxmemory): writes refused with 503, reads served';

/** What a service's routes and seeding get from the shared runtime. */
export interface ServiceContext {
  readonly app: FastifyInstance;
  readonly redis: Redis;
  readonly tokens: TokenStore;
  readonly auth: Authenticator;
  /** The app's metrics registry, for the service's own series (served at `GET /metrics` on the private metrics listener). */
  readonly metrics: Registry;
}

/** What a service plugs into the shared runtime, built from the context. */
export interface ServiceParts {
  /** Registers the service's routes. */
  readonly routes: () => PromiseLike<unknown>;
  /** Loads seed data once per database; returns how many items it inserted. */
  readonly seed?: () => Promise<number>;
  /** `seed` also prepares the data (a migration): run it, and wait for it to be ready, even when SEED_ON_START=false. */
  readonly seedRunsAlways?: boolean;
  /** Extra readiness checks. */
  readonly checks?: HealthCheck[];
}

export interface ServiceDefinition {
  /** Path prefix of the service's health routes: `/quotes` gives `/quotes/health`. */
  readonly basePath: string;
  /** Creates the service's stores from the shared context and says what to plug in. */
  readonly setup: (ctx: ServiceContext) => ServiceParts;
}

export interface BuildOptions {
  /** false silences the JSON logger (tests). */
  readonly logger?: boolean;
  /** Where the JSON log lines go instead of stdout (tests capture them). */
  readonly logStream?: NodeJS.WritableStream;
}

/**
 * Assembles a service from its definition: app with error handling, docs,
 * logs and HTTP metrics, a fail-fast and instrumented Redis client,
 * authentication, readiness (Redis + seeding) and liveness routes, seeding on
 * `ready()`, and Redis closed on `close()`. `GET /metrics` is served by a
 * second, private app (`metricsAppOf(app)`, listened on at METRICS_HOST:METRICS_PORT
 * by `serve`), never by the public one, whatever path a proxy lets through.
 */
export async function buildService(
  config: ServiceConfig & { readonly seedOnStart?: boolean },
  definition: ServiceDefinition,
  options: BuildOptions = {},
): Promise<FastifyInstance> {
  const metrics = createRegistry({
    service: config.serviceName,
    memoryLimitBytes: config.memoryLimitBytes,
    cpuLimitCores: config.cpuLimitCores,
  });
  const app = await createHttpApp({
    service: config.serviceName,
    config,
    logger: options.logger,
    logStream: options.logStream,
    bodyLimitBytes: config.bodyLimitBytes,
    metrics: { registry: metrics, route: false },
  });
  await attachMetricsApp(app, {
    service: config.serviceName,
    config,
    registry: metrics,
    logger: options.logger === false ? false : app.log,
  });
  // Set by the authentication hooks; declared up front so every request object has the same shape.
  app.decorateRequest('principal', null);
  const redisMetrics = createRedisMetrics(metrics);
  const memory = new RedisMemoryState();
  const redis = createRedis(config.redis, {
    connectionName: `haddock-${config.serviceName}`,
    onCommand: redisMetrics.observe,
    memory,
  });
  redisMetrics.watch(redis, memory);
  redis.on('error', (err) => app.log.debug({ err }, 'redis connection error'));
  const tokens = new TokenStore(redis, config.redisKeyPrefix, config.tokenTtlSeconds);
  const ctx: ServiceContext = { app, redis, tokens, auth: createAuthenticator(tokens, config.adminKeys), metrics };

  const parts = definition.setup(ctx);
  const seed = parts.seed;
  const seeding = seed !== undefined && (parts.seedRunsAlways === true || config.seedOnStart !== false);
  const seedFailures = new Counter({
    name: 'haddock_seed_failures_total',
    help: 'Seeding attempts that failed (each is retried with backoff)',
    registers: [metrics],
  });
  const seeder = new Seeder(
    config.serviceName,
    async () => {
      try {
        await waitForRedis(redis, 3_000);
        return seed === undefined ? 0 : await seed();
      } catch (err) {
        seedFailures.inc();
        throw err;
      }
    },
    app.log,
  );
  new Gauge({
    name: 'haddock_seed_done',
    help: '1 once seeding finished (always 1 for a service that does not seed); 0 while it is pending or failing',
    registers: [metrics],
    collect() {
      this.set(!seeding || seeder.done ? 1 : 0);
    },
  });

  // INFO memory answers as PING does, and says whether Redis is full: still ready (reads are served), degraded.
  const checks: HealthCheck[] = [
    {
      name: 'redis',
      run: async () => ((await memory.check(redis)) ? { degraded: REDIS_FULL_DETAIL } : undefined),
    },
  ];
  if (seeding) {
    checks.push({
      name: 'seed',
      run: async () => {
        if (!seeder.done) throw new Error(seeder.error ?? 'seeding not finished');
      },
    });
  }
  checks.push(...(parts.checks ?? []));
  registerHealthRoutes(app, `${definition.basePath}/health`, checks);
  await parts.routes();

  if (config.adminKeyIsDefault) {
    app.log.warn('ADMIN_KEY is not set: using the local default admin key (never do this in production)');
  }
  if (!seeding) {
    // As the seeding services do: `ready()` waits (bounded) for the connection, so the
    // first requests are not refused with 503 while it is still being established.
    app.addHook('onReady', async () => {
      await waitForRedis(redis, 3_000).catch((err: unknown) =>
        app.log.warn({ err }, 'redis not reachable at start-up, answering 503 until it is'),
      );
    });
  }
  if (seeding) {
    app.addHook('onReady', () => seeder.start());
    // Every reconnection may land on an empty Redis (restarted without persistence).
    redis.on('ready', () => seeder.reseed());
  }
  app.addHook('onClose', async () => {
    seeder.stop();
    redis.disconnect();
  });
  return app;
}
