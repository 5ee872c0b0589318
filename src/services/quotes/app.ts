import type { FastifyInstance } from 'fastify';
import { scrapeGauge } from '../../lib/metrics/index.ts';
import { readQuotesFile } from '../../lib/seed/index.ts';
import { type BuildOptions, buildService } from '../../lib/service/index.ts';
import type { QuotesConfig } from './config.ts';
import { QuoteStore } from './quote-store.ts';
import { quotesRoutes } from './routes.ts';

/** The quotes service, ready to `inject` or `listen`; seeds the 415 curses on `ready()`. */
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
          help: 'Quotes in the catalogue (one HLEN per scrape; absent when Redis does not answer)',
          read: () => store.count(),
        });
        return {
          routes: () => app.register(quotesRoutes, { config, store, auth }),
          seed: async () => store.seed(await readQuotesFile(config.seedFile)),
        };
      },
    },
    options,
  );
}
