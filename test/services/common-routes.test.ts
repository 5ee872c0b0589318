// What every service answers the same way, one table for all four: an unknown
// route, the health and liveness routes, and the OpenAPI document.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance, InjectOptions } from 'fastify';
import { metricsAppOf } from '../../src/lib/http/index.ts';
import { buildApp as buildOpsApp } from '../../src/services/ops/app.ts';
import { loadConfig as loadOpsConfig } from '../../src/services/ops/config.ts';
import { ADMIN, quotesApp, searchApp, testEnv, usersApp } from '../helpers/apps.ts';
import { cleanPrefix, requireRedis, testRedisUrl, uniquePrefix } from '../helpers/redis.ts';

const prefix = uniquePrefix('common-routes');
let backupDir = '';

interface ServiceCase {
  readonly name: 'users' | 'quotes' | 'search' | 'ops';
  readonly build: () => Promise<FastifyInstance>;
  /** Requests no route of the service answers, as a client would send them. */
  readonly unknown: readonly InjectOptions[];
  /** Routes the OpenAPI document must list, as `METHOD /path`. */
  readonly documented: readonly string[];
  /** When set, the document's paths are exactly these. */
  readonly exactPaths?: readonly string[];
  /** A path fragment no documented path may contain. */
  readonly undocumented?: string;
}

const SERVICES: readonly ServiceCase[] = [
  {
    name: 'users',
    build: () => usersApp({ prefix }),
    unknown: [{ url: '/users/nope/nope' }],
    documented: [
      'GET /',
      'POST /users/login',
      'POST /users/logout',
      'GET /users',
      'GET /users/me',
      'GET /users/all',
      'POST /users',
      'DELETE /users/{id}',
      'GET /users/health',
      'GET /users/health/live',
    ],
    // The original's token dump is gone, and must not come back through the docs.
    undocumented: 'token',
  },
  {
    name: 'quotes',
    build: () => quotesApp({ prefix }),
    unknown: [{ url: '/quotes/1/comments' }, { url: '/nope' }, { method: 'PATCH', url: '/quotes/1' }],
    documented: [
      'GET /quotes',
      'POST /quotes',
      'GET /quotes/random',
      'GET /quotes/{id}',
      'PUT /quotes/{id}',
      'DELETE /quotes/{id}',
      'GET /quotes/health',
      'GET /quotes/health/live',
    ],
  },
  {
    name: 'search',
    build: () => searchApp({ prefix }),
    // With credentials: an authenticated client still gets the 404, not a 401.
    unknown: [{ url: '/search/advanced', headers: ADMIN }],
    documented: ['GET /search'],
    exactPaths: ['/search', '/search/health', '/search/health/live', '/search/health/ready'],
  },
  {
    name: 'ops',
    build: async () => {
      const env = { ALERT_WEBHOOK_TOKEN: 'webhook-token-0123456789', BACKUP_SCHEDULE_ENABLED: 'false', BACKUP_DIR: backupDir };
      const app = await buildOpsApp(loadOpsConfig(testEnv({ prefix, env })), { logger: false });
      await app.ready();
      return app;
    },
    unknown: [{ url: '/ops/nope', headers: ADMIN }, { url: '/nope' }],
    documented: [
      'POST /ops/alerts',
      'GET /ops/incidents',
      'POST /ops/incidents',
      'GET /ops/incidents/{id}',
      'GET /ops/incidents/{id}/report',
      'GET /ops/kpi',
      'GET /ops/backups',
      'GET /ops/health',
      'GET /ops/health/live',
    ],
  },
];

const apps = new Map<string, FastifyInstance>();

before(async () => {
  await requireRedis();
  backupDir = await mkdtemp(join(tmpdir(), 'haddock-common-routes-'));
  for (const service of SERVICES) apps.set(service.name, await service.build());
});

after(async () => {
  await Promise.all([...apps.values()].map((app) => app.close()));
  await cleanPrefix(testRedisUrl(), prefix);
  if (backupDir) await rm(backupDir, { recursive: true, force: true });
});

function appOf(name: string): FastifyInstance {
  const app = apps.get(name);
  assert.ok(app, `${name} was built`);
  return app;
}

for (const service of SERVICES) {
  describe(`the ${service.name} service`, () => {
    test(`an unknown ${service.name} route → 404 JSON`, async () => {
      for (const request of service.unknown) {
        const res = await appOf(service.name).inject(request);
        assert.equal(res.statusCode, 404, `${request.method ?? 'GET'} ${request.url}`);
        assert.deepEqual(res.json(), { error: 'Route non trouvée' });
      }
    });

    test(`GET /metrics → 404 JSON on the ${service.name} public app; its metrics listener serves the metrics alone`, async () => {
      const app = appOf(service.name);
      for (const url of ['/metrics', '/metrics/', '/metrics#x', '/metrics?x', '/%6detrics']) {
        const res = await app.inject({ url });
        assert.equal(res.statusCode, 404, url);
        assert.deepEqual(res.json(), { error: 'Route non trouvée' }, url);
      }
      // A route of the service may take it (`/quotes/:id` answers 400 to the id "metrics"): never the metrics.
      const prefixed = await app.inject({ url: `/${service.name}/metrics` });
      assert.ok(prefixed.statusCode >= 400 && !prefixed.body.includes('# HELP'), prefixed.body);
      const metrics = metricsAppOf(app);
      const scraped = await metrics.inject({ url: '/metrics' });
      assert.equal(scraped.statusCode, 200);
      assert.match(scraped.body, new RegExp(`^haddock_build_info\\{.*service="${service.name}"`, 'm'));
      const other = await metrics.inject({ url: `/${service.name}/health` });
      assert.equal(other.statusCode, 404, 'the metrics listener serves no API route');
      assert.deepEqual(other.json(), { error: 'Route non trouvée' });
    });

    test(`GET /${service.name}/health → exactly {"message":"healthy"}`, async () => {
      const res = await appOf(service.name).inject({ url: `/${service.name}/health` });
      assert.equal(res.statusCode, 200);
      assert.equal(res.body, '{"message":"healthy"}');
    });

    test(`GET /${service.name}/health/live → 200 {"message":"alive"}`, async () => {
      const res = await appOf(service.name).inject({ url: `/${service.name}/health/live` });
      assert.equal(res.statusCode, 200);
      assert.deepEqual(res.json(), { message: 'alive' });
    });

    test(`GET /apidocs/json → an OpenAPI 3 document listing the ${service.name} routes`, async () => {
      const res = await appOf(service.name).inject({ url: '/apidocs/json' });
      assert.equal(res.statusCode, 200);
      const doc = res.json() as { openapi: string; paths: Record<string, Record<string, unknown>> };
      assert.match(doc.openapi, /^3\./);
      const routes = Object.entries(doc.paths).flatMap(([path, methods]) =>
        Object.keys(methods).map((method) => `${method.toUpperCase()} ${path}`),
      );
      for (const route of service.documented) {
        assert.ok(routes.includes(route), `${route} missing from ${routes.join(', ')}`);
      }
      if (service.exactPaths !== undefined) assert.deepEqual(Object.keys(doc.paths).sort(), [...service.exactPaths].sort());
      const hidden = service.undocumented;
      if (hidden !== undefined)
        assert.ok(!Object.keys(doc.paths).some((p) => p.includes(hidden)), `a ${hidden} route is documented`);
    });
  });
}
