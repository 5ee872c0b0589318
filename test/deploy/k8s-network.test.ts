import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { loadCliConfig } from '../../src/cli/config.ts';
import type { Env } from '../../src/lib/config/index.ts';
import {
  type Connection,
  checkNetwork,
  type DialReader,
  describeConnection,
  type NetworkReport,
  selectorMatches,
} from '../../src/platform/deploy-checks/k8s-network.ts';
import {
  EXAMPLE_DIRS,
  type K8sObject,
  OVERLAY_DIRS,
  OVERLAY_NAMESPACES,
  parseManifests,
  renderKustomization,
} from '../../src/platform/deploy-checks/k8s-render.ts';

const FIXTURES = 'test/deploy/fixtures/k8s';

/** The haddock CLI, run in the ops container (`kubectl exec … haddock check`): what it dials. */
const cli: DialReader = (env: Env) => {
  const config = loadCliConfig(env);
  return {
    urls: {
      GATEWAY_HEALTH_URL: config.gatewayHealthUrl,
      USERS_URL: config.serviceUrls.users,
      QUOTES_URL: config.serviceUrls.quotes,
      SEARCH_URL: config.serviceUrls.search,
      PROMETHEUS_URL: config.prometheusUrl,
      ALERTMANAGER_URL: config.alertmanagerUrl,
    },
    redis: config.ops.redis,
  };
};

function check(objects: readonly K8sObject[], namespace = OVERLAY_NAMESPACES.production): NetworkReport {
  return checkNetwork(objects, namespace, { otherReaders: { ops: [cli] } });
}

/** A connection's short form: `ops→redis:6379/TCP`, by the pods' app.kubernetes.io/name (or the peer's name). */
function short(c: Connection): string {
  const name = (p: Connection['from']) => (p.kind === 'pods' ? (p.labels['app.kubernetes.io/name'] ?? p.name) : 'api-server');
  return `${name(c.from)}→${name(c.to)}:${c.port}/${c.protocol}`;
}

function assertClean(report: NetworkReport, where: string): void {
  assert.deepEqual(report.problems, [], `${where}: connections not allowed, or not resolved:\n${report.problems.join('\n')}`);
  assert.deepEqual(
    report.unused,
    [],
    `${where}: policy rules that allow nothing the platform does:\n${report.unused.join('\n')}`,
  );
}

const EXPECTED_BASE = [
  'users→redis:6379/TCP',
  'quotes→redis:6379/TCP',
  'search→redis:6379/TCP',
  'ops→redis:6379/TCP',
  'gateway→users:8001/TCP',
  'gateway→ops:8004/TCP',
  'ops→users:8001/TCP',
  'ops→search:8003/TCP',
  'ops→gateway:8000/TCP',
  'ops→prometheus:9090/TCP',
  'ops→alertmanager:9093/TCP',
  'alertmanager→ops:8004/TCP',
  'traefik→gateway:8000/TCP',
  'traefik→quotes:8002/TCP',
  'users→dns:53/UDP',
  'redis→dns:53/TCP',
];

describe('k8s network: every connection the platform makes is allowed at both ends', () => {
  for (const overlay of ['production', 'qualification'] as const) {
    test(`overlay ${overlay}: every connection from configuration is allowed, every rule is needed`, () => {
      const report = check(renderKustomization(OVERLAY_DIRS[overlay]), OVERLAY_NAMESPACES[overlay]);
      const listed = new Set(report.connections.map(short));
      for (const expected of EXPECTED_BASE) {
        assert.ok(
          listed.has(expected),
          `${overlay}: ${expected} is not among the connections listed:\n${[...listed].join('\n')}`,
        );
      }
      assertClean(report, overlay);
    });
  }

  test('production with the Sentinel component: Sentinel, replication and the primary via Sentinel are allowed', () => {
    const report = check(renderKustomization(EXAMPLE_DIRS.productionSentinel));
    const listed = new Set(report.connections.map(short));
    for (const expected of [
      'users→redis-sentinel:26379/TCP',
      'ops→redis-sentinel:26379/TCP',
      'ops→redis:6379/TCP',
      'redis-sentinel→redis:6379/TCP',
      'redis-sentinel→redis-sentinel:26379/TCP',
      'redis→redis:6379/TCP',
      'redis→redis-sentinel:26379/TCP',
    ]) {
      assert.ok(listed.has(expected), `sentinel example: ${expected} is not listed:\n${[...listed].join('\n')}`);
    }
    assert.ok(
      !report.connections.some((c) => c.why.startsWith('REDIS_URL')),
      'the component must switch every service from REDIS_URL to REDIS_SENTINELS',
    );
    assertClean(report, 'production-sentinel');
  });

  test('fixture network-missing-ops-redis: the missing ops → Redis egress rule is named', () => {
    const report = check(renderKustomization(`${FIXTURES}/network-missing-ops-redis`));
    const refused = report.problems.filter((p) => p.includes('no egress rule'));
    assert.equal(refused.length, 1, report.problems.join('\n'));
    assert.match(refused[0] as string, /^ops-service .*→ redis .*port 6379\/TCP \[REDIS_URL of Deployment\/ops-service/);
  });

  test('fixture network-wrong-port: Redis admitting its clients on 6380 refuses each of them on 6379', () => {
    const report = check(renderKustomization(`${FIXTURES}/network-wrong-port`));
    const refused = report.problems.filter((p) => p.includes('no ingress rule of the destination'));
    assert.deepEqual(
      refused.map((p) => p.split(' ')[0]).sort(),
      ['ops-service', 'quotes-service', 'search-service', 'users-service'],
      report.problems.join('\n'),
    );
    assert.ok(
      report.unused.some((u) => u.startsWith('NetworkPolicy/redis ingress rule 0') && u.includes('6380')),
      report.unused.join('\n'),
    );
  });
});

describe('k8s network: NetworkPolicy semantics', () => {
  test('label selectors: matchLabels and every matchExpressions operator; an empty selector matches all', () => {
    const labels = { app: 'ops', tier: 'api' };
    const cases: [Parameters<typeof selectorMatches>[0], boolean][] = [
      [{}, true],
      [undefined, true],
      [{ matchLabels: { app: 'ops' } }, true],
      [{ matchLabels: { app: 'users' } }, false],
      [{ matchExpressions: [{ key: 'app', operator: 'In', values: ['ops', 'users'] }] }, true],
      [{ matchExpressions: [{ key: 'app', operator: 'NotIn', values: ['ops'] }] }, false],
      [{ matchExpressions: [{ key: 'zone', operator: 'NotIn', values: ['a'] }] }, true],
      [{ matchExpressions: [{ key: 'tier', operator: 'Exists' }] }, true],
      [{ matchExpressions: [{ key: 'tier', operator: 'DoesNotExist' }] }, false],
      [{ matchLabels: { app: 'ops' }, matchExpressions: [{ key: 'tier', operator: 'In', values: ['db'] }] }, false],
    ];
    for (const [selector, expected] of cases) assert.equal(selectorMatches(selector, labels), expected, JSON.stringify(selector));
  });

  /** A two-pod namespace: `client` (a gateway reading USERS_URL) and `users` behind Service haddock-users. */
  function tiny(policies: string): K8sObject[] {
    return parseManifests(`
apiVersion: apps/v1
kind: Deployment
metadata: { name: gateway, namespace: t }
spec:
  template:
    metadata: { labels: { app.kubernetes.io/name: gateway } }
    spec:
      containers:
        - name: gateway
          env: [{ name: USERS_URL, value: "http://haddock-users:8001" }, { name: QUOTES_URL, value: "http://127.0.0.1:8002" },
                { name: SEARCH_URL, value: "http://127.0.0.1:8003" }, { name: OPS_URL, value: "http://127.0.0.1:8004" }]
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: users-service, namespace: t }
spec:
  template:
    metadata: { labels: { app.kubernetes.io/name: users } }
    spec:
      containers: [{ name: other, ports: [{ name: http, containerPort: 8001 }] }]
---
apiVersion: v1
kind: Service
metadata: { name: haddock-users, namespace: t }
spec: { selector: { app.kubernetes.io/name: users }, ports: [{ name: http, port: 8001, targetPort: http }] }
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: { name: deny, namespace: t }
spec: { podSelector: {}, policyTypes: [Ingress, Egress], egress: [{ ports: [{ port: 53, protocol: UDP }, { port: 53 }] }] }
${policies}`);
  }

  const refusals = (report: NetworkReport) =>
    report.problems.filter((p) => p.includes('gateway') && p.includes('port 8001')).map((p) => p.replace(/^.*: no /, 'no '));

  test('default deny refuses the gateway → users connection at both ends', () => {
    assert.deepEqual(refusals(checkNetwork(tiny(''), 't')), [
      "no egress rule of the source's policies allows it",
      "no ingress rule of the destination's policies allows it",
    ]);
  });

  test('a named port resolves on the destination pod; a namespaceSelector with a podSelector is one peer (AND)', () => {
    const allow = `---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: { name: out, namespace: t }
spec:
  podSelector: { matchLabels: { app.kubernetes.io/name: gateway } }
  policyTypes: [Egress]
  egress: [{ to: [{ podSelector: { matchLabels: { app.kubernetes.io/name: users } } }], ports: [{ port: http }] }]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: { name: in, namespace: t }
spec:
  podSelector: { matchLabels: { app.kubernetes.io/name: users } }
  ingress:
    - from: [{ namespaceSelector: { matchLabels: { kubernetes.io/metadata.name: NS } }, podSelector: { matchLabels: { app.kubernetes.io/name: gateway } } }]
      ports: [{ port: 8000, endPort: 8005 }]`;
    assert.deepEqual(refusals(checkNetwork(tiny(allow.replace('NS', 't')), 't')), []);
    assert.deepEqual(refusals(checkNetwork(tiny(allow.replace('NS', 'elsewhere')), 't')), [
      "no ingress rule of the destination's policies allows it",
    ]);
    assert.deepEqual(refusals(checkNetwork(tiny(allow.replace('NS', 't').replace('port: http', 'port: metrics')), 't')), [
      "no egress rule of the source's policies allows it",
    ]);
    assert.deepEqual(
      refusals(checkNetwork(tiny(allow.replace('NS', 't').replace('port: http', 'port: http, protocol: UDP')), 't')),
      ["no egress rule of the source's policies allows it"],
    );
  });

  test('every connection is described with its source, destination, port and origin', () => {
    const report = checkNetwork(tiny(''), 't');
    const line = report.connections.map(describeConnection).find((d) => d.includes('USERS_URL'));
    assert.equal(
      line,
      'gateway (t, app.kubernetes.io/name=gateway) → users-service (t, app.kubernetes.io/name=users) port 8001/TCP [USERS_URL of Deployment/gateway (t)]',
    );
  });
});
