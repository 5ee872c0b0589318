import type { FastifyInstance } from 'fastify';
import { createAuthenticator, TokenStore } from '../../lib/auth/index.ts';
import { registerHealthRoutes } from '../../lib/health/index.ts';
import { createServiceApp } from '../../lib/http/index.ts';
import { createRedis, waitForRedis } from '../../lib/redis/index.ts';
import { readQuotesFile, Seeder } from '../../lib/seed/index.ts';
import type { QuotesConfig } from './config.ts';
import { QuoteStore } from './quote-store.ts';
import { quotesRoutes } from './routes.ts';

export interface BuildOptions {
  /** false silences the JSON logger (tests). */
  readonly logger?: boolean;
  /** Build the routes without connecting to Redis (OpenAPI generation). */
  readonly docsOnly?: boolean;
}

/** The quotes service, ready to `inject` or `listen`; seeds on `ready()` when configured. */
export async function buildApp(config: QuotesConfig, options: BuildOptions = {}): Promise<FastifyInstance> {
  const app = await createServiceApp({ config, logger: options.logger });
  const redis = createRedis({
    url: config.redisUrl,
    commandTimeoutMs: config.redisCommandTimeoutMs,
    connectionName: 'haddock-quotes',
    lazy: options.docsOnly,
  });
  redis.on('error', (err) => app.log.debug({ err }, 'redis connection error'));
  const store = new QuoteStore(redis, config.redisKeyPrefix);
  const auth = createAuthenticator(new TokenStore(redis, config.redisKeyPrefix, config.tokenTtlSeconds), config.adminKeys);
  const seeder = new Seeder(
    'quotes',
    async () => {
      const quotes = await readQuotesFile(config.seedFile);
      await waitForRedis(redis, 3_000);
      return store.seed(quotes);
    },
    app.log,
  );

  registerHealthRoutes(app, '/quotes/health', [
    { name: 'redis', run: async () => void (await redis.ping()) },
    {
      name: 'seed',
      run: async () => {
        if (config.seedOnStart && !seeder.done) throw new Error(seeder.error ?? 'seeding not finished');
      },
    },
  ]);
  await app.register(quotesRoutes, { config, store, auth });

  if (!options.docsOnly) {
    if (config.adminKeyIsDefault) app.log.warn('ADMIN_KEY is not set: using the local default admin key');
    if (config.seedOnStart) app.addHook('onReady', () => seeder.start());
  }
  app.addHook('onClose', async () => {
    seeder.stop();
    redis.disconnect();
  });
  return app;
}
