import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { parseDotEnv } from '../../src/platform/deploy-checks/compose.ts';
import { checkHttpsRedirect, checkIngress, type IngressContext } from '../../src/platform/deploy-checks/k8s-ingress.ts';
import { type K8sObject, OVERLAY_DIRS, parseManifests, renderOverlay } from '../../src/platform/deploy-checks/k8s-render.ts';
import { REPOSITORY_ROOT } from '../../src/platform/monitoring-config/index.ts';
import { buildRouteTableApps } from '../helpers/route-tables.ts';

const FIXTURES = join(import.meta.dirname, 'fixtures', 'k8s');

const rendered = { production: renderOverlay('production'), qualification: renderOverlay('qualification') };
const params = {
  production: parseDotEnv(readFileSync(join(REPOSITORY_ROOT, OVERLAY_DIRS.production, 'params.env'), 'utf8')),
  qualification: parseDotEnv(readFileSync(join(REPOSITORY_ROOT, OVERLAY_DIRS.qualification, 'params.env'), 'utf8')),
};

/** The programs' real route tables (apps built, never listening; their Redis is never asked). */
let apps: Record<string, FastifyInstance>;
let hasRoute: IngressContext['hasRoute'];

before(async () => {
  apps = await buildRouteTableApps();
  hasRoute = (upstream, method, url) => apps[upstream]?.hasRoute({ method: method as 'GET', url }) === true;
});

after(async () => {
  await Promise.all(Object.values(apps ?? {}).map((app) => app.close()));
});

/** An overlay's objects with a fixture's objects replacing those of the same kind and name. */
function withFixture(objects: readonly K8sObject[], name: string): K8sObject[] {
  const replacements = parseManifests(readFileSync(join(FIXTURES, name), 'utf8'), name);
  const key = (o: K8sObject) => `${o.kind}/${o.metadata.name}`;
  const replaced = new Set(replacements.map(key));
  return [...objects.filter((o) => !replaced.has(key(o))), ...replacements];
}

describe('deploy/k8s ingress (Traefik)', () => {
  for (const overlay of ['production', 'qualification'] as const) {
    test(`${overlay}: the IngressRoutes agree with the gateway path by path, for the overlay's host: no problem`, () => {
      const host = params[overlay].get('HOST');
      assert.ok(host !== undefined, `${OVERLAY_DIRS[overlay]}/params.env has no HOST`);
      assert.deepEqual(checkIngress(rendered[overlay], { hasRoute, host }), []);
    });
  }

  test('the hosts come from params.env: production and qualification differ, each its own', () => {
    const hostsOf = (objects: readonly K8sObject[]) =>
      new Set(
        objects
          .filter((o) => o.kind === 'IngressRoute')
          .flatMap((o) =>
            ((o.spec as { routes: { match: string }[] }).routes ?? []).map((r) => /Host\(`([^`]*)`\)/.exec(r.match)?.[1]),
          ),
      );
    const production = hostsOf(rendered.production);
    const qualification = hostsOf(rendered.qualification);
    assert.deepEqual([...production], [params.production.get('HOST')]);
    assert.deepEqual([...qualification], [params.qualification.get('HOST')]);
    assert.notEqual(params.production.get('HOST'), params.qualification.get('HOST'));
  });

  test('the rate limit is 10 a minute with a burst of 10, per client address at params.env TRAEFIK_IP_DEPTH', () => {
    for (const overlay of ['production', 'qualification'] as const) {
      const limit = rendered[overlay].find((o) => o.kind === 'Middleware' && o.metadata.name === 'rate-limit');
      const spec = (limit?.spec as { rateLimit?: Record<string, unknown> } | undefined)?.rateLimit;
      assert.ok(spec !== undefined, `${overlay}: Middleware rate-limit is not rendered`);
      assert.equal(spec.average, 10);
      assert.equal(spec.burst, 10);
      assert.equal(spec.period, '1m');
      assert.deepEqual(spec.sourceCriterion, { ipStrategy: { depth: Number(params[overlay].get('TRAEFIK_IP_DEPTH')) } });
    }
  });

  test('production redirects HTTP to HTTPS for its host (components/https-redirect listed by the overlay)', () => {
    assert.deepEqual(checkHttpsRedirect(rendered.production, params.production.get('HOST') ?? ''), []);
  });

  test('the https-redirect component, rendered on its own over qualification, redirects too', () => {
    // The component works whatever the overlay lists: it brings its own host replacement.
    const ir = parseManifests(
      readFileSync(join(REPOSITORY_ROOT, 'deploy/k8s/components/https-redirect/ingressroute-web.yaml'), 'utf8'),
    );
    const host = params.qualification.get('HOST') ?? '';
    const withHost = ir.map((o) => JSON.parse(JSON.stringify(o).replaceAll('HOST', host)) as K8sObject);
    assert.deepEqual(checkHttpsRedirect([...rendered.qualification, ...withHost], host), []);
    assert.notDeepEqual(checkHttpsRedirect(rendered.qualification, host), [], 'qualification has no redirect of its own');
  });

  const cases: { fixture: string; check: 'ingress' | 'redirect'; problem: RegExp }[] = [
    {
      fixture: 'ingress-route.yaml',
      check: 'ingress',
      problem: /GET \/search \(router haddock\[\d+\]\): goes to quotes, the gateway sends it to search/,
    },
    {
      fixture: 'ingress-rate-limit.yaml',
      check: 'ingress',
      problem: /Middleware rate-limit: must be average 10, period 1m, burst 10/,
    },
    {
      fixture: 'ingress-health-limited.yaml',
      check: 'ingress',
      problem: /GET \/quotes\/health \(router haddock\[\d+\]\): is rate-limited, unlike the gateway/,
    },
    {
      fixture: 'ingress-metrics.yaml',
      check: 'ingress',
      problem: /GET \/metrics \(router haddock\[\d+\]\): a private path must not reach a service's route/,
    },
    {
      fixture: 'ingress-docs-users.yaml',
      check: 'ingress',
      problem: /GET \/apidocs \(router haddock\[\d+\]\): goes to users, the gateway sends it to gateway/,
    },
    { fixture: 'ingress-host.yaml', check: 'ingress', problem: /Host is 203\.0\.113\.99\.nip\.io, not 203\.0\.113\.10\.nip\.io/ },
    {
      fixture: 'ingress-metrics-port.yaml',
      check: 'ingress',
      problem: /service haddock-users must be reached on its port named http \(got metrics\)/,
    },
    {
      fixture: 'ingress-redirect.yaml',
      check: 'redirect',
      problem: /GET http:\/\/203\.0\.113\.10\.nip\.io\/ is not redirected permanently to https/,
    },
  ];
  for (const { fixture, check, problem } of cases) {
    test(`fixtures/k8s/${fixture} is refused: ${problem.source}`, () => {
      const objects = withFixture(rendered.production, fixture);
      const host = params.production.get('HOST') ?? '';
      const problems = check === 'ingress' ? checkIngress(objects, { hasRoute, host }) : checkHttpsRedirect(objects, host);
      assert.ok(
        problems.some((p) => problem.test(p)),
        `expected ${problem}, got:\n${problems.join('\n')}`,
      );
    });
  }

  test('every fixture names an object the production overlay renders', () => {
    for (const { fixture } of cases) {
      for (const doc of parseManifests(readFileSync(join(FIXTURES, fixture), 'utf8'))) {
        assert.ok(
          rendered.production.some((o) => o.kind === doc.kind && o.metadata.name === doc.metadata.name),
          `${fixture}: ${doc.kind}/${doc.metadata.name} is not rendered by production`,
        );
      }
    }
  });
});
