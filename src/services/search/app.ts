import type { FastifyInstance } from 'fastify';
import { createRedis, waitForRedis } from '../../lib/redis/index.ts';
import { type BuildOptions, buildService } from '../../lib/service/index.ts';
import { QuoteStore } from '../quotes/quote-store.ts';
import type { SearchConfig } from './config.ts';
import { searchRoutes } from './routes.ts';
import { QuoteSearch, storeSource } from './search-index.ts';

/** How long one blocking read of the change stream waits; the generation is checked after each. */
const BLOCK_MS = 1_000;

/**
 * The search service, ready to `inject` or `listen`. It reads the quotes catalogue; it never writes. Its index is
 * built in chunks once the app is ready (readiness fails until then), then follows the catalogue's change stream on
 * a second connection of its own: a blocking read ties a connection up, and needs a command timeout above its wait.
 */
export async function buildApp(config: SearchConfig, options: BuildOptions = {}): Promise<FastifyInstance> {
  return buildService(
    config,
    {
      basePath: '/search',
      setup: ({ app, redis, auth }) => {
        const store = new QuoteStore(redis, config.redisKeyPrefix);
        const reader = createRedis(
          { ...config.redis, commandTimeoutMs: config.redis.commandTimeoutMs + BLOCK_MS },
          { connectionName: `haddock-${config.serviceName}-changes` },
        );
        reader.on('error', (err) => app.log.debug({ err }, 'redis change reader connection error'));
        const search = new QuoteSearch(storeSource(store, reader), { log: app.log, blockMs: BLOCK_MS });
        app.addHook('onReady', async () => {
          // Bounded, as the shared runtime's own wait: the index retries on its own while Redis is away.
          await waitForRedis(redis, 3_000).catch(() => undefined);
          search.start();
        });
        app.addHook('onClose', async () => {
          const stopped = search.stop();
          reader.disconnect();
          await stopped;
        });
        return {
          routes: () => app.register(searchRoutes, { config, search, auth }),
          checks: [
            {
              name: 'index',
              run: async () => {
                if (!search.ready) throw new Error('search index not built yet');
              },
            },
          ],
        };
      },
    },
    options,
  );
}
