import type { FastifyInstance } from 'fastify';
import { scrapeGauge } from '../../lib/metrics/index.ts';
import { readQuotesLines } from '../../lib/seed/index.ts';
import { type BuildOptions, buildService } from '../../lib/service/index.ts';
import type { QuotesConfig } from './config.ts';
import { QuoteStore } from './quote-store.ts';
import { quotesRoutes } from './routes.ts';

/**
 * The quotes service, ready to `inject` or `listen`. On `ready()` it builds the id index of a database of the
 * previous layout, then seeds the file (the 415 curses by default) in chunks, streamed; readiness fails
 * until both are done.
 */
export async function buildApp(config: QuotesConfig, options: BuildOptions = {}): Promise<FastifyInstance> {
  return buildService(
    config,
    {
      basePath: '/quotes',
      setup: ({ app, redis, auth, metrics }) => {
        const store = new QuoteStore(redis, config.redisKeyPrefix);
        scrapeGauge({
          registry: metrics,
          name: 'haddock_quotes_stored',
          help: 'Quotes in the catalogue (one ZCARD per scrape; absent when Redis does not answer)',
          read: () => store.count(),
        });
        return {
          routes: () => app.register(quotesRoutes, { config, store, auth }),
          seed: async () => {
            await store.migrate();
            return config.seedOnStart ? store.seed(() => readQuotesLines(config.seedFile)) : 0;
          },
          // The migration must run with SEED_ON_START=false too.
          seedRunsAlways: true,
        };
      },
    },
    options,
  );
}
