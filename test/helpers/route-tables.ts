import type { FastifyInstance } from 'fastify';
import { buildGateway } from '../../src/platform/gateway/app.ts';
import { loadConfig as loadGatewayConfig } from '../../src/platform/gateway/config.ts';
import { buildApp as buildOpsApp } from '../../src/services/ops/app.ts';
import { loadConfig as loadOpsConfig } from '../../src/services/ops/config.ts';
import { buildApp as buildQuotesApp } from '../../src/services/quotes/app.ts';
import { loadConfig as loadQuotesConfig } from '../../src/services/quotes/config.ts';
import { buildApp as buildSearchApp } from '../../src/services/search/app.ts';
import { loadConfig as loadSearchConfig } from '../../src/services/search/config.ts';
import { buildApp as buildUsersApp } from '../../src/services/users/app.ts';
import { loadConfig as loadUsersConfig } from '../../src/services/users/config.ts';

export type RouteTableApp = 'users' | 'quotes' | 'search' | 'ops' | 'gateway';

/**
 * Every program's app, built and never listening, for its real route table (`hasRoute`): the deployment checks
 * prove probe paths and routes against it. Their Redis is never asked; close them after the tests.
 */
export async function buildRouteTableApps(): Promise<Record<RouteTableApp, FastifyInstance>> {
  const env = { REDIS_URL: 'redis://127.0.0.1:1', ADMIN_KEY: 'route-table-admin-key-0123', SEED_ON_START: 'false' };
  return {
    users: await buildUsersApp(loadUsersConfig(env), { logger: false }),
    quotes: await buildQuotesApp(loadQuotesConfig(env), { logger: false }),
    search: await buildSearchApp(loadSearchConfig(env), { logger: false }),
    ops: await buildOpsApp(loadOpsConfig({ ...env, BACKUP_SCHEDULE_ENABLED: 'false' }), { logger: false }),
    // A fixed document: the page is not what is checked, and no service is asked for its own.
    gateway: await buildGateway(loadGatewayConfig({}), { logger: false, openapi: { openapi: '3.0.3', paths: {} } }),
  };
}
