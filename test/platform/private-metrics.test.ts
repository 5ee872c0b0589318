// Issue 8, defect 3: every service's metrics are served on a private listener of its own, never on its public
// port, so no spelling of a path the gateway relays can reach them. Real services (users, quotes, search, ops)
// listen on loopback, a real gateway in front; hostile request targets go over raw sockets, as an attacker sends them.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { metricsAppOf } from '../../src/lib/http/index.ts';
import { buildGateway } from '../../src/platform/gateway/app.ts';
import { loadConfig as loadGatewayConfig } from '../../src/platform/gateway/config.ts';
import { buildApp as buildOpsApp } from '../../src/services/ops/app.ts';
import { loadConfig as loadOpsConfig } from '../../src/services/ops/config.ts';
import { loadConfig as loadQuotesConfig } from '../../src/services/quotes/config.ts';
import { loadConfig as loadSearchConfig } from '../../src/services/search/config.ts';
import { loadConfig as loadUsersConfig } from '../../src/services/users/config.ts';
import { quotesApp, searchApp, testEnv, usersApp } from '../helpers/apps.ts';
import { cleanPrefix, requireRedis, testRedisUrl, uniquePrefix } from '../helpers/redis.ts';

const prefix = uniquePrefix('private-metrics');
const NAMES = ['users', 'quotes', 'search', 'ops'] as const;
type Name = (typeof NAMES)[number];

const services = new Map<Name, { app: FastifyInstance; base: string; port: number; metricsBase: string }>();
let gateway: FastifyInstance | undefined;
let gatewayPort = 0;
let backupDir = '';

/** Sends `target` as the request line's target, exactly as written, and returns the raw answer. */
function rawGet(port: number, target: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.setTimeout(5_000, () => socket.destroy(new Error(`no answer to GET ${target} within 5 s`)));
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('latin1');
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0), text });
    });
    socket.write(`GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
  });
}

/** Request targets that a path check and a router may read differently. */
function hostileTargets(service: string): string[] {
  return [
    '/metrics',
    '/metrics/',
    '/metrics#x',
    '/metrics?x',
    '//metrics',
    '/./metrics',
    '/%6detrics',
    '/%6Detrics',
    '/METRICS',
    `/${service}/metrics`,
    `/${service}/metrics#x`,
    `/${service}/metrics#`,
    `/${service}/metrics%23`,
    `/${service}/metrics%23x`,
    `/${service}/metrics?x`,
    `/${service}/metrics?#`,
    `/${service}/metrics/`,
    `/${service}/metrics;x`,
    `/${service}/metrics%00`,
    `//${service}/metrics`,
    `/${service}//metrics`,
    `/${service}/./metrics`,
    `/${service}/../metrics`,
    `/${service}/x/../metrics`,
    `/${service}/%6detrics`,
    `/${service}/%6Detrics`,
    `/${service}%2fmetrics`,
    `/${service}%2Fmetrics`,
    `/${service}/metrics%2f`,
    `/${service}/METRICS`,
    `/${service}/%2e/metrics`,
    `http://127.0.0.1/${service}/metrics`,
    `http://127.0.0.1/${service}/metrics#x`,
  ];
}

before(async () => {
  await requireRedis();
  backupDir = await mkdtemp(join(tmpdir(), 'haddock-private-metrics-'));
  const opsEnv = { ALERT_WEBHOOK_TOKEN: 'webhook-token-0123456789', BACKUP_SCHEDULE_ENABLED: 'false', BACKUP_DIR: backupDir };
  const built: Record<Name, FastifyInstance> = {
    users: await usersApp({ prefix }),
    quotes: await quotesApp({ prefix }),
    search: await searchApp({ prefix }),
    ops: await buildOpsApp(loadOpsConfig(testEnv({ prefix, env: opsEnv })), { logger: false }),
  };
  for (const name of NAMES) {
    const app = built[name];
    // As `serve` does: the private metrics listener first, then the public one (closed with the app).
    const metricsBase = await metricsAppOf(app).listen({ host: '127.0.0.1', port: 0 });
    const base = await app.listen({ host: '127.0.0.1', port: 0 });
    services.set(name, { app, base, port: Number(new URL(base).port), metricsBase });
  }
  const url = (name: Name) => services.get(name)?.base ?? assert.fail(`${name} listens`);
  gateway = await buildGateway(
    loadGatewayConfig({
      USERS_URL: url('users'),
      QUOTES_URL: url('quotes'),
      SEARCH_URL: url('search'),
      OPS_URL: url('ops'),
      RATE_LIMIT_PER_MINUTE: '0',
    }),
    { logger: false, openapi: { openapi: '3.0.3', info: { title: 't', version: '1' }, paths: {} } },
  );
  gatewayPort = Number(new URL(await gateway.listen({ host: '127.0.0.1', port: 0 })).port);
});

after(async () => {
  await gateway?.close();
  await Promise.all([...services.values()].map(({ app }) => app.close()));
  await cleanPrefix(testRedisUrl(), prefix);
  if (backupDir) await rm(backupDir, { recursive: true, force: true });
});

function service(name: Name) {
  return services.get(name) ?? assert.fail(`${name} was started`);
}

describe('each service serves its metrics on a private listener only', { timeout: 30_000 }, () => {
  test('loadConfig: METRICS_PORT defaults to the public default plus 10, METRICS_HOST to HOST; never the public port', () => {
    const loaders = {
      users: (env: Record<string, string>) => loadUsersConfig(testEnv({ prefix, env })),
      quotes: (env: Record<string, string>) => loadQuotesConfig(testEnv({ prefix, env })),
      search: (env: Record<string, string>) => loadSearchConfig(testEnv({ prefix, env })),
      ops: (env: Record<string, string>) => loadOpsConfig(testEnv({ prefix, env })),
    };
    const defaults = NAMES.map((name) => loaders[name]({}));
    assert.deepEqual(
      defaults.map((c) => [c.port, c.metricsPort, c.metricsHost]),
      [
        [8001, 8011, '0.0.0.0'],
        [8002, 8012, '0.0.0.0'],
        [8003, 8013, '0.0.0.0'],
        [8004, 8014, '0.0.0.0'],
      ],
    );
    const set = loaders.quotes({ HOST: '127.0.0.1', METRICS_PORT: '9100' });
    assert.deepEqual([set.metricsHost, set.metricsPort], ['127.0.0.1', 9100]);
    assert.equal(loaders.quotes({ METRICS_HOST: '10.0.0.5' }).metricsHost, '10.0.0.5');
    for (const name of NAMES) {
      assert.throws(() => loaders[name]({ PORT: '9000', METRICS_PORT: '9000' }), /METRICS_PORT must differ from PORT/, name);
    }
    assert.throws(() => loaders.users({ METRICS_PORT: 'x' }), /METRICS_PORT must be an integer/);
  });

  for (const name of NAMES) {
    test(`${name}: the public app answers GET /metrics 404 JSON; its metrics listener answers the Prometheus text`, async () => {
      const { base, metricsBase } = service(name);
      const open = await fetch(`${base}/metrics`);
      assert.equal(open.status, 404);
      assert.deepEqual(await open.json(), { error: 'Route non trouvée' });

      const scraped = await fetch(`${metricsBase}/metrics`);
      assert.equal(scraped.status, 200);
      assert.match(scraped.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
      const text = await scraped.text();
      assert.match(text, /^# HELP http_requests_total /m);
      assert.match(text, new RegExp(`^haddock_build_info\\{.*service="${name}"`, 'm'));
      // The private listener serves the metrics and nothing of the API.
      const api = await fetch(`${metricsBase}/${name}/health`);
      assert.equal(api.status, 404);
      assert.deepEqual(await api.json(), { error: 'Route non trouvée' });
    });
  }
});

describe('no request target reaches a service metrics page', { timeout: 30_000 }, () => {
  test('the raw probe sees a metrics page where there is one, and the gateway relays to every service', async () => {
    const scraped = await rawGet(Number(new URL(service('quotes').metricsBase).port), '/metrics#x');
    assert.equal(scraped.status, 200);
    assert.ok(scraped.text.includes('# HELP'), 'the probe recognises a metrics page');
    for (const name of NAMES) {
      const relayed = await rawGet(gatewayPort, `/${name}/health/live`);
      assert.equal(relayed.status, 200, `${name} through the gateway: ${relayed.text}`);
    }
  });

  for (const name of NAMES) {
    test(`through the gateway and on ${name}'s own public port, no spelling of /metrics answers the metrics`, async () => {
      const { port } = service(name);
      const leaks: string[] = [];
      for (const target of hostileTargets(name)) {
        for (const [where, to] of [
          ['gateway', gatewayPort],
          [name, port],
        ] as const) {
          const { status, text } = await rawGet(to, target);
          assert.ok(status > 0, `GET ${target} on ${where}: no HTTP answer`);
          if (text.includes('# HELP') || text.includes('# TYPE')) leaks.push(`GET ${target} on ${where} → ${status}`);
        }
      }
      assert.deepEqual(leaks, [], 'a metrics page reached the public');
    });
  }
});
