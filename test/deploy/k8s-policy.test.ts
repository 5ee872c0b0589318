import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { parse } from 'yaml';
import { loadCliConfig } from '../../src/cli/config.ts';
import { checkPolicy, type K8sCode, type K8sProcess } from '../../src/platform/deploy-checks/k8s-policy.ts';
import { K8S_OVERLAYS, type K8sObject, type K8sOverlay, renderOverlay } from '../../src/platform/deploy-checks/k8s-render.ts';
import { buildRouteTableApps } from '../helpers/route-tables.ts';

const FIXTURES = join(import.meta.dirname, 'fixtures', 'k8s');

/**
 * The real route tables, as test/deploy/compose.test.ts builds them: each app built (never listening, never ready)
 * from a configuration whose Redis does not answer; the gateway with a fixed OpenAPI document (no upstream asked).
 */
let apps: Record<K8sProcess, FastifyInstance>;
let code: K8sCode;
let rendered: Record<K8sOverlay, K8sObject[]>;
let baseline: string[];

before(async () => {
  rendered = { qualification: renderOverlay('qualification'), production: renderOverlay('production') };
  apps = await buildRouteTableApps();
  code = {
    hasRoute: (name, method, url) => apps[name].hasRoute({ method: method as 'GET', url }),
    otherReaders: { ops: [loadCliConfig] },
  };
  baseline = checkPolicy(rendered, code);
});

after(async () => {
  await Promise.all(Object.values(apps ?? {}).map((app) => app.close()));
});

/** A fixture: patches applied to one rendered overlay, and the problem they must cause. */
interface Fixture {
  readonly overlay: K8sOverlay;
  readonly patches?: readonly { kind: string; name: string; path: string; value?: unknown; unset?: boolean }[];
  readonly add?: readonly K8sObject[];
  readonly remove?: readonly { kind: string; name?: string }[];
  readonly renameNamespace?: { from: string; to: string };
  readonly expect: string;
}

type Node = Record<string, unknown> | unknown[];

/** Sets (or removes) `a.b[name=x].c` in an object; a `[name=x]` segment absent from its list is appended. */
function setPath(root: Node, path: string, value: unknown, unset: boolean, where: string): void {
  const segments = path.match(/[^.[\]]+|\[[^\]]+\]/g) ?? [];
  let node: Node = root;
  for (const [i, segment] of segments.entries()) {
    const last = i === segments.length - 1;
    const selector = /^\[(\w+)=(.+)\]$/.exec(segment);
    let key: string | number = segment;
    if (selector !== null) {
      assert.ok(Array.isArray(node), `${where}: ${segment} selects in something that is not a list`);
      const [, field = '', wanted] = selector;
      key = node.findIndex((item) => (item as Record<string, unknown>)?.[field] === wanted);
      if (key < 0) {
        assert.ok(last && !unset, `${where}: no item ${segment} in ${path}`);
        key = node.length;
      }
    } else if (Array.isArray(node)) key = Number(segment);
    const container = node as Record<string | number, unknown>;
    if (last) {
      if (unset) {
        if (Array.isArray(node)) node.splice(key as number, 1);
        else delete container[key];
      } else container[key] = value;
      return;
    }
    container[key] ??= {};
    node = container[key] as Node;
  }
}

function applyFixture(fixture: Fixture): Record<K8sOverlay, K8sObject[]> {
  const copy = structuredClone(rendered);
  let objects = copy[fixture.overlay];
  for (const patch of fixture.patches ?? []) {
    const target = objects.find((o) => o.kind === patch.kind && o.metadata.name === patch.name);
    assert.ok(target, `the fixture patches ${patch.kind}/${patch.name}, which ${fixture.overlay} does not render`);
    setPath(target as unknown as Node, patch.path, patch.value, patch.unset === true, `${patch.kind}/${patch.name}`);
  }
  for (const gone of fixture.remove ?? []) {
    const before = objects.length;
    objects = objects.filter((o) => !(o.kind === gone.kind && (gone.name === undefined || o.metadata.name === gone.name)));
    assert.ok(
      objects.length < before || baselineHas(fixture),
      `the fixture removes ${gone.kind}, which ${fixture.overlay} does not render`,
    );
  }
  objects.push(...structuredClone(fixture.add ?? []));
  if (fixture.renameNamespace !== undefined) {
    const { from, to } = fixture.renameNamespace;
    for (const obj of objects) {
      const meta = obj.metadata as { name: string; namespace?: string };
      if (meta.namespace === from) meta.namespace = to;
      if (obj.kind === 'Namespace' && meta.name === from) meta.name = to;
    }
  }
  copy[fixture.overlay] = objects;
  return copy;
}

function baselineHas(fixture: Fixture): boolean {
  return baseline.some((p) => new RegExp(fixture.expect).test(p));
}

describe('deploy/k8s policy', () => {
  test('both overlays follow every rule: no problem', () => {
    assert.deepEqual(baseline, []);
  });

  test('the route tables are real: a health path is a route of its service, a made-up one is not', () => {
    assert.equal(apps.users.hasRoute({ method: 'GET', url: '/users/health/ready' }), true);
    assert.equal(apps.users.hasRoute({ method: 'GET', url: '/users/healthz' }), false);
    assert.equal(apps.gateway.hasRoute({ method: 'GET', url: '/gateway/health' }), true);
  });

  const fixtures = readdirSync(FIXTURES)
    .filter((name) => name.startsWith('policy-') && name.endsWith('.yaml'))
    .sort();

  test('there is a fixture for every rule', () => {
    assert.ok(fixtures.length >= 16, `only ${fixtures.length} policy fixtures`);
  });

  for (const name of fixtures) {
    const text = readFileSync(join(FIXTURES, name), 'utf8');
    const fixture = parse(text) as Fixture;
    const what = /^#\s*(.*)$/m.exec(text)?.[1] ?? name;
    test(`fixture ${name} fails the policy: ${what}`, () => {
      assert.ok(K8S_OVERLAYS.includes(fixture.overlay), `${name}: overlay ${String(fixture.overlay)}`);
      const pattern = new RegExp(fixture.expect);
      assert.ok(
        !baselineHas(fixture),
        `the committed overlays already break this rule (${fixture.expect}), so the fixture proves nothing: fix them first`,
      );
      const problems = checkPolicy(applyFixture(fixture), code);
      assert.ok(
        problems.some((p) => pattern.test(p)),
        `${name}: expected a problem matching ${pattern}, got:\n${problems.join('\n')}`,
      );
    });
  }
});
