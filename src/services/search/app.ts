import type { FastifyInstance } from 'fastify';
import { type BuildOptions, buildService } from '../../lib/service/index.ts';
import { QuoteStore } from '../quotes/quote-store.ts';
import type { SearchConfig } from './config.ts';
import { searchRoutes } from './routes.ts';
import { SnapshotSearch } from './search-index.ts';

/** The search service, ready to `inject` or `listen`. It reads the quotes catalogue; it never writes. */
export async function buildApp(config: SearchConfig, options: BuildOptions = {}): Promise<FastifyInstance> {
  return buildService(
    config,
    {
      basePath: '/search',
      setup: ({ app, redis, auth }) => {
        const search = new SnapshotSearch(new QuoteStore(redis, config.redisKeyPrefix));
        return { routes: () => app.register(searchRoutes, { config, search, auth }) };
      },
    },
    options,
  );
}
