import type { FastifyInstance } from 'fastify';
import { hashPassword } from '../../lib/auth/index.ts';
import { Counter, scrapeGauge } from '../../lib/metrics/index.ts';
import { readUsersFile } from '../../lib/seed/index.ts';
import { type BuildOptions, buildService } from '../../lib/service/index.ts';
import type { UsersConfig } from './config.ts';
import { LOGIN_RESULTS, usersRoutes } from './routes.ts';
import { UserStore } from './user-store.ts';

/** The users service, ready to `inject` or `listen`; seeds the demo users on `ready()`. */
export async function buildApp(config: UsersConfig, options: BuildOptions = {}): Promise<FastifyInstance> {
  return buildService(
    config,
    {
      basePath: '/users',
      setup: ({ app, redis, tokens, auth, metrics }) => {
        const store = new UserStore(redis, config.redisKeyPrefix);
        scrapeGauge({
          registry: metrics,
          name: 'haddock_users_stored',
          help: 'User accounts (one HLEN per scrape; absent when Redis does not answer)',
          read: () => store.count(),
        });
        const logins = new Counter({
          name: 'haddock_logins_total',
          help: 'Login attempts answered, by result: success, unknown_user or bad_password',
          labelNames: ['result'],
          registers: [metrics],
        });
        // Every result shows from the start, so rate() over it never sees a series appear mid-way.
        for (const result of LOGIN_RESULTS) logins.inc({ result }, 0);
        return {
          routes: () => app.register(usersRoutes, { config, store, tokens, auth, logins }),
          seed: async () => {
            const users = await readUsersFile(config.seedFile);
            if (await store.isSeeded()) return 0;
            // Hashed outside Redis; if another replica wins the race, its copy stays and ours is dropped.
            const hashed = await Promise.all(
              users.map(async ({ id, name, password }) => ({ id, name, password_hash: await hashPassword(password) })),
            );
            return store.seed(hashed);
          },
        };
      },
    },
    options,
  );
}
