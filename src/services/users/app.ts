import type { FastifyInstance } from 'fastify';
import { hashPassword } from '../../lib/auth/index.ts';
import { readUsersFile } from '../../lib/seed/index.ts';
import { type BuildOptions, buildService } from '../../lib/service/index.ts';
import type { UsersConfig } from './config.ts';
import { usersRoutes } from './routes.ts';
import { UserStore } from './user-store.ts';

/** The users service, ready to `inject` or `listen`; seeds the demo users on `ready()`. */
export async function buildApp(config: UsersConfig, options: BuildOptions = {}): Promise<FastifyInstance> {
  return buildService(
    config,
    {
      basePath: '/users',
      setup: ({ app, redis, tokens, auth }) => {
        const store = new UserStore(redis, config.redisKeyPrefix);
        return {
          routes: () => app.register(usersRoutes, { config, store, tokens, auth }),
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
