import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  CAPACITY_KEYS,
  capacityNeed,
  formatQuantity,
  parseQuantity,
  quotaHard,
  quotaShortfalls,
} from '../../src/platform/deploy-checks/k8s-capacity.ts';
import {
  checkClusterPriorityClasses,
  checkDeployment,
  checkLimitRange,
  checkNamespaces,
  checkOpsVolume,
  checkPlatform,
  checkQuota,
  PLATFORM_EXPECTATIONS,
} from '../../src/platform/deploy-checks/k8s-platform.ts';
import {
  CLUSTER_DIR,
  EXAMPLE_DIRS,
  K8S_DEPLOYMENTS,
  K8S_OVERLAYS,
  type K8sObject,
  type K8sOverlay,
  OVERLAY_NAMESPACES,
  parseManifests,
  renderKustomization,
  renderOverlay,
} from '../../src/platform/deploy-checks/k8s-render.ts';

// Each render runs kubectl kustomize (about a second): once per kustomization for the whole file.
const rendered: Record<K8sOverlay, K8sObject[]> = {
  qualification: renderOverlay('qualification'),
  production: renderOverlay('production'),
};
const cluster = renderKustomization(CLUSTER_DIR);

/** A deep copy of production's objects with one change, for the fixtures that must fail a check. */
function mutated(change: (objects: K8sObject[]) => void, overlay: K8sOverlay = 'production'): K8sObject[] {
  const copy = structuredClone(rendered[overlay]);
  change(copy);
  return copy;
}

// Loose access for the mutations: the rendered objects are plain parsed YAML.
// biome-ignore lint/suspicious/noExplicitAny: test fixtures edit arbitrary fields
type Loose = any;
const find = (objects: K8sObject[], kind: string, name: string): Loose => {
  const found = objects.find((o) => o.kind === kind && o.metadata.name === name);
  assert.ok(found, `${kind}/${name} is rendered`);
  return found;
};
const podOf = (objects: K8sObject[], name: string): Loose => find(objects, 'Deployment', name).spec.template.spec;
const containerOf = (objects: K8sObject[], name: string): Loose => podOf(objects, name).containers[0];

describe('deploy/k8s renders: both platforms and cluster/', () => {
  test('a missing kubectl fails naming it', () => {
    const path = process.env.PATH;
    process.env.PATH = '/nonexistent';
    try {
      assert.throws(() => renderKustomization(CLUSTER_DIR), /kubectl is not installed or not on PATH/);
    } finally {
      process.env.PATH = path;
    }
  });

  test('both overlays render every Deployment of the contract, in distinct namespaces', () => {
    assert.notEqual(OVERLAY_NAMESPACES.production, OVERLAY_NAMESPACES.qualification);
    for (const overlay of K8S_OVERLAYS) {
      const objects = rendered[overlay];
      assert.deepEqual(checkNamespaces(objects, PLATFORM_EXPECTATIONS[overlay]), []);
      const deployments = objects.filter((o) => o.kind === 'Deployment').map((o) => o.metadata.name);
      for (const name of Object.keys(K8S_DEPLOYMENTS)) assert.ok(deployments.includes(name), `${overlay}: Deployment/${name}`);
    }
  });

  for (const overlay of K8S_OVERLAYS) {
    test(`${overlay}: probes, hardening, preStop and grace, spread, Services, PDBs, HPAs ${PLATFORM_EXPECTATIONS[overlay].autoscaled.min}–${PLATFORM_EXPECTATIONS[overlay].autoscaled.max}, ops volume, priority, LimitRange, quota`, () => {
      assert.deepEqual(checkPlatform(rendered[overlay], overlay), []);
    });
  }

  test('cluster/: production above qualification, neither the default, qualification never preempts', () => {
    assert.deepEqual(checkClusterPriorityClasses(cluster), []);
    assert.ok(
      cluster.every((o) => o.kind === 'PriorityClass'),
      'cluster/ holds only cluster-scoped PriorityClasses',
    );
  });

  test(`the quota also holds production with the Sentinel component (${EXAMPLE_DIRS.productionSentinel})`, () => {
    assert.deepEqual(checkQuota(renderKustomization(EXAMPLE_DIRS.productionSentinel)), []);
  });
});

describe('deploy/k8s platform checks: a fixture that must fail each', () => {
  const expected = PLATFORM_EXPECTATIONS.production;
  const cases: [string, (objects: K8sObject[]) => void, RegExp][] = [
    [
      'an object outside the namespace',
      (o) => {
        find(o, 'Service', 'haddock-users').metadata.namespace = 'haddock';
      },
      /Service\/haddock-users \(haddock\) is not in namespace haddock-production/,
    ],
    [
      'a missing Deployment',
      (o) => {
        o.splice(o.indexOf(find(o, 'Deployment', 'quotes-service')), 1);
      },
      /Deployment\/quotes-service is not rendered/,
    ],
    [
      'a readiness probe on the liveness path',
      (o) => {
        containerOf(o, 'quotes-service').readinessProbe.httpGet.path = '/quotes/health/live';
      },
      /readinessProbe path is \/quotes\/health\/live, expected \/quotes\/health\/ready/,
    ],
    [
      'no liveness probe',
      (o) => {
        delete containerOf(o, 'search-service').livenessProbe;
      },
      /search-service: no livenessProbe/,
    ],
    [
      'a probe on the metrics port',
      (o) => {
        containerOf(o, 'users-service').readinessProbe.httpGet.port = 'metrics';
      },
      /readinessProbe port metrics is not the http port 8001/,
    ],
    [
      'root allowed',
      (o) => {
        podOf(o, 'users-service').securityContext.runAsNonRoot = false;
      },
      /runAsNonRoot is not true/,
    ],
    [
      'ops as the runtime image user',
      (o) => {
        podOf(o, 'ops-service').securityContext.runAsUser = 65532;
      },
      /ops-service: pod runAsUser is 65532, expected 10001/,
    ],
    [
      'no seccomp profile',
      (o) => {
        delete podOf(o, 'gateway').securityContext.seccompProfile;
      },
      /gateway: pod seccompProfile is not RuntimeDefault/,
    ],
    [
      'a writable root file system',
      (o) => {
        containerOf(o, 'users-service').securityContext.readOnlyRootFilesystem = false;
      },
      /readOnlyRootFilesystem is not true/,
    ],
    [
      'privilege escalation',
      (o) => {
        containerOf(o, 'users-service').securityContext.allowPrivilegeEscalation = true;
      },
      /allowPrivilegeEscalation is not false/,
    ],
    [
      'capabilities kept',
      (o) => {
        containerOf(o, 'quotes-service').securityContext.capabilities.drop = [];
      },
      /capabilities do not drop ALL/,
    ],
    [
      'a service account token',
      (o) => {
        delete podOf(o, 'search-service').automountServiceAccountToken;
      },
      /automountServiceAccountToken is not false/,
    ],
    [
      'no /tmp volume',
      (o) => {
        containerOf(o, 'users-service').volumeMounts = containerOf(o, 'users-service').volumeMounts.filter(
          (m: Loose) => m.mountPath !== '/tmp',
        );
      },
      /users-service: \/tmp is not an emptyDir/,
    ],
    [
      'no preStop sleep',
      (o) => {
        delete containerOf(o, 'users-service').lifecycle;
      },
      /users-service: no preStop sleep action/,
    ],
    [
      'a grace period no longer than sleep + SHUTDOWN_GRACE_MS',
      (o) => {
        podOf(o, 'quotes-service').terminationGracePeriodSeconds = 15;
      },
      /terminationGracePeriodSeconds 15 is not longer than the preStop sleep 5 s \+ SHUTDOWN_GRACE_MS 10000 ms/,
    ],
    [
      'SHUTDOWN_GRACE_MS left to its default',
      (o) => {
        containerOf(o, 'ops-service').env = containerOf(o, 'ops-service').env.filter(
          (e: Loose) => e.name !== 'SHUTDOWN_GRACE_MS',
        );
      },
      /ops-service: SHUTDOWN_GRACE_MS is not set explicitly/,
    ],
    [
      'a hard zone spread',
      (o) => {
        podOf(o, 'search-service').topologySpreadConstraints[0].whenUnsatisfiable = 'DoNotSchedule';
      },
      /topology.kubernetes.io\/zone spread is DoNotSchedule, expected ScheduleAnyway/,
    ],
    [
      'no host spread',
      (o) => {
        podOf(o, 'gateway').topologySpreadConstraints.pop();
      },
      /gateway: no topologySpreadConstraint on kubernetes.io\/hostname/,
    ],
    [
      "the other platform's priority",
      (o) => {
        podOf(o, 'users-service').priorityClassName = 'haddock-qualification';
      },
      /users-service: priorityClassName is haddock-qualification, expected haddock-production/,
    ],
    [
      'an unpinned image',
      (o) => {
        containerOf(o, 'quotes-service').image = 'haddock:latest';
      },
      /image haddock:latest has no pinned tag/,
    ],
    [
      'PORT apart from the http port',
      (o) => {
        containerOf(o, 'users-service').env.find((e: Loose) => e.name === 'PORT').value = '9001';
      },
      /PORT is 9001, the http port is 8001/,
    ],
    [
      'a Service port to the wrong target',
      (o) => {
        find(o, 'Service', 'haddock-search').spec.ports[1].targetPort = 8003;
      },
      /Service\/haddock-search: port metrics is not 8013/,
    ],
    [
      'a Service selecting nothing',
      (o) => {
        find(o, 'Service', 'haddock-ops').spec.selector = { 'app.kubernetes.io/name': 'opz' };
      },
      /Service\/haddock-ops does not select/,
    ],
    [
      'CPU_LIMIT_CORES apart from the limit',
      (o) => {
        containerOf(o, 'users-service').resources.limits.cpu = '1';
      },
      /CPU_LIMIT_CORES 0.5 is not the CPU limit 1/,
    ],
    [
      'a PDB that blocks every drain of the single ops pod',
      (o) => {
        find(o, 'PodDisruptionBudget', 'ops-service').spec = {
          minAvailable: 1,
          selector: find(o, 'PodDisruptionBudget', 'ops-service').spec.selector,
        };
      },
      /minAvailable 1 with 1 replica\(s\) blocks every drain/,
    ],
    [
      'no PDB',
      (o) => {
        o.splice(o.indexOf(find(o, 'PodDisruptionBudget', 'gateway')), 1);
      },
      /gateway: 0 PodDisruptionBudgets select its pods/,
    ],
    [
      'the HPA outside 2–5',
      (o) => {
        find(o, 'HorizontalPodAutoscaler', 'users-service').spec.maxReplicas = 10;
      },
      /2–10 replicas, expected 2–5/,
    ],
    [
      'another CPU target',
      (o) => {
        find(o, 'HorizontalPodAutoscaler', 'search-service').spec.metrics[0].resource.target.averageUtilization = 50;
      },
      /no CPU target of 80 % utilisation/,
    ],
    [
      'replicas set under an HPA',
      (o) => {
        find(o, 'Deployment', 'quotes-service').spec.replicas = 3;
      },
      /quotes-service: sets replicas while an HPA scales it/,
    ],
    [
      'ops autoscaled',
      (o) => {
        o.push({
          ...structuredClone(find(o, 'HorizontalPodAutoscaler', 'users-service')),
          metadata: { name: 'ops-service', namespace: 'haddock-production' },
          spec: {
            ...find(o, 'HorizontalPodAutoscaler', 'users-service').spec,
            scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'ops-service' },
          },
        });
      },
      /ops-service must not be autoscaled/,
    ],
    [
      'ops rolling (two pods on one RWO volume)',
      (o) => {
        find(o, 'Deployment', 'ops-service').spec.strategy = { type: 'RollingUpdate' };
      },
      /ops-service: strategy is not Recreate/,
    ],
    [
      'a shared backup volume',
      (o) => {
        find(o, 'PersistentVolumeClaim', 'ops-backups').spec.accessModes = ['ReadWriteMany'];
      },
      /ops-backups is not ReadWriteOnce/,
    ],
    [
      'the backup volume elsewhere than BACKUP_DIR',
      (o) => {
        containerOf(o, 'ops-service').volumeMounts.find((m: Loose) => m.name === 'backups').mountPath = '/data';
      },
      /ops-backups is not mounted at BACKUP_DIR \(\/var\/lib\/haddock\/backups\)/,
    ],
    [
      'a container over the LimitRange',
      (o) => {
        find(o, 'LimitRange', 'haddock-limits').spec.limits[0].max.memory = '256Mi';
      },
      /ops-service.* container ops: limits.memory 768Mi over the LimitRange max 256Mi/,
    ],
    [
      'a claim over the LimitRange',
      (o) => {
        find(o, 'PersistentVolumeClaim', 'ops-backups').spec.resources.requests.storage = '50Gi';
      },
      /ops-backups.*: 50Gi over the LimitRange max 20Gi/,
    ],
    [
      'the gateway count of the other platform',
      (o) => {
        find(o, 'Deployment', 'gateway').spec.replicas = 1;
      },
      /gateway: replicas 1, expected 2/,
    ],
    [
      'a quota under the pods needed',
      (o) => {
        find(o, 'ResourceQuota', 'haddock-quota').spec.hard.pods = '5';
      },
      new RegExp(`pods: quota 5 < needed ${capacityNeed(rendered.production).total.pods}$`),
    ],
    [
      'no quota on limits.memory',
      (o) => {
        delete find(o, 'ResourceQuota', 'haddock-quota').spec.hard['limits.memory'];
      },
      /limits.memory: no ResourceQuota sets it/,
    ],
    [
      'an HPA raised past what the quota holds (the need is computed, not a constant)',
      (o) => {
        for (const name of ['users-service', 'quotes-service', 'search-service'])
          find(o, 'HorizontalPodAutoscaler', name).spec.maxReplicas = 12;
      },
      /pods: quota \d+ < needed \d+/,
    ],
  ];
  for (const [name, change, problem] of cases) {
    test(`fails: ${name}`, () => {
      const problems = checkPlatform(mutated(change), 'production');
      assert.ok(
        problems.some((p) => problem.test(p)),
        `expected a problem matching ${problem}, got:\n${problems.join('\n')}`,
      );
    });
  }

  test("the qualification fixture must fail production's HPA numbers, and the reverse", () => {
    assert.ok(
      checkDeployment(rendered.qualification, 'users-service', expected).some((p) => /1–2 replicas, expected 2–5/.test(p)),
    );
    assert.ok(
      checkDeployment(rendered.production, 'users-service', PLATFORM_EXPECTATIONS.qualification).some((p) =>
        /2–5 replicas, expected 1–2/.test(p),
      ),
    );
  });

  test('the need follows the objects: three HPAs raised by 7 need 21 pods more (7 × 3)', () => {
    const before = capacityNeed(rendered.production).total.pods;
    const raised = mutated((o) => {
      for (const name of ['users-service', 'quotes-service', 'search-service'])
        find(o, 'HorizontalPodAutoscaler', name).spec.maxReplicas = 12;
    });
    assert.equal(capacityNeed(raised).total.pods, before + 21);
  });

  test('ops volume and LimitRange checks name what is missing', () => {
    assert.deepEqual(
      checkOpsVolume(mutated((o) => void o.splice(o.indexOf(find(o, 'PersistentVolumeClaim', 'ops-backups')), 1))),
      ['PersistentVolumeClaim/ops-backups is not rendered'],
    );
    assert.deepEqual(checkLimitRange(mutated((o) => void o.splice(o.indexOf(find(o, 'LimitRange', 'haddock-limits')), 1))), [
      'no LimitRange',
    ]);
    assert.deepEqual(checkQuota(mutated((o) => void o.splice(o.indexOf(find(o, 'ResourceQuota', 'haddock-quota')), 1))), [
      'no ResourceQuota',
    ]);
  });

  const clusterCases: [string, (objects: Loose[]) => void, RegExp][] = [
    [
      'qualification above production',
      (o) => {
        o.find((p) => p.metadata.name === 'haddock-qualification').value = 5000;
      },
      /haddock-production \(1000\) is not above haddock-qualification \(5000\)/,
    ],
    [
      'a global default',
      (o) => {
        o.find((p) => p.metadata.name === 'haddock-production').globalDefault = true;
      },
      /haddock-production is the cluster's default/,
    ],
    [
      'qualification preempting',
      (o) => {
        o.find((p) => p.metadata.name === 'haddock-qualification').preemptionPolicy = 'PreemptLowerPriority';
      },
      /haddock-qualification may preempt/,
    ],
  ];
  for (const [name, change, problem] of clusterCases) {
    test(`cluster/ fails: ${name}`, () => {
      const copy = structuredClone(cluster);
      change(copy);
      const problems = checkClusterPriorityClasses(copy);
      assert.ok(
        problems.some((p) => problem.test(p)),
        `expected ${problem}, got:\n${problems.join('\n')}`,
      );
    });
  }
});

describe('capacity: what a namespace needs, from the objects', () => {
  test('quantities', () => {
    const table: [string | number, number][] = [
      ['500m', 0.5],
      ['1', 1],
      ['0.25', 0.25],
      [2, 2],
      ['256Mi', 268_435_456],
      ['1Gi', 1_073_741_824],
      ['1G', 1e9],
      ['128974848', 128_974_848],
      ['129e6', 129e6],
      ['1k', 1000],
    ];
    for (const [raw, value] of table) assert.equal(parseQuantity(raw), value, String(raw));
    for (const bad of ['', 'Mi', '1MB', 'one', '1.2.3']) assert.throws(() => parseQuantity(bad), /not a Kubernetes quantity/);
    assert.equal(formatQuantity('requests.cpu', 4.8), '4800m');
    assert.equal(formatQuantity('limits.memory', 8 * 2 ** 30), '8Gi');
    assert.equal(formatQuantity('requests.memory', 5696 * 2 ** 20), '5696Mi');
  });

  test('HPA maximum, percent surge rounded up with a terminating pod, Recreate, StatefulSet claims, CronJobs, init containers, LimitRange defaults', () => {
    const objects = parseManifests(`
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  template:
    spec:
      initContainers: [{name: setup, resources: {requests: {cpu: "2", memory: 64Mi}, limits: {cpu: "2", memory: 64Mi}}}]
      containers: [{name: web, resources: {requests: {cpu: 100m, memory: 100Mi}, limits: {cpu: 200m, memory: 200Mi}}}]
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: web}
spec: {scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}, minReplicas: 2, maxReplicas: 6}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: single}
spec:
  replicas: 1
  strategy: {type: Recreate}
  template: {spec: {containers: [{name: c}]}}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  replicas: 3
  template: {spec: {containers: [{name: db, resources: {limits: {cpu: "1", memory: 1Gi}}}]}}
  volumeClaimTemplates: [{metadata: {name: data}, spec: {resources: {requests: {storage: 2Gi}}}}]
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: nightly}
spec:
  concurrencyPolicy: Forbid
  jobTemplate: {spec: {template: {spec: {containers: [{name: j, resources: {requests: {cpu: 50m, memory: 32Mi}, limits: {cpu: 50m, memory: 32Mi}}}]}}}}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: extra}
spec: {resources: {requests: {storage: 5Gi}}}
---
apiVersion: v1
kind: LimitRange
metadata: {name: l}
spec: {limits: [{type: Container, default: {cpu: 300m, memory: 300Mi}, defaultRequest: {cpu: 30m, memory: 30Mi}}]}
`);
    const { total, lines } = capacityNeed(objects);
    // web: HPA max 6, 25 % of 6 rounds up to 2 surge + 2 terminating = 10 pods; its init container (2 CPU) is
    // larger than the running one, as the quota counts it.
    assert.deepEqual(
      lines.map((l) => [l.workload, l.pods]),
      [
        ['Deployment/web', 10],
        ['Deployment/single', 1],
        ['StatefulSet/db', 3],
        ['CronJob/nightly', 1],
      ],
    );
    assert.equal(total.pods, 15);
    assert.equal(Math.round(total['requests.cpu'] * 1000), 10 * 2000 + 30 + 3 * 1000 + 50);
    assert.equal(total['requests.memory'], (10 * 100 + 30 + 3 * 1024 + 32) * 2 ** 20);
    assert.equal(Math.round(total['limits.cpu'] * 1000), 10 * 2000 + 300 + 3 * 1000 + 50);
    assert.equal(total['limits.memory'], (10 * 200 + 300 + 3 * 1024 + 32) * 2 ** 20);
    assert.equal(total.persistentvolumeclaims, 4);
    assert.equal(total['requests.storage'], 11 * 2 ** 30);
    const hard = quotaHard(
      parseManifests(`
apiVersion: v1
kind: ResourceQuota
metadata: {name: q}
spec: {hard: {pods: "15", requests.cpu: "23.08", requests.memory: 4134Mi, limits.cpu: "23.35", limits.memory: 5404Mi, persistentvolumeclaims: "4", requests.storage: 11Gi}}
`),
    );
    assert.deepEqual(quotaShortfalls(total, hard), []);
    assert.deepEqual(quotaShortfalls(total, { ...hard, pods: 14 }), ['pods: quota 14 < needed 15']);
    assert.equal(CAPACITY_KEYS.length, 7);
  });

  test('a CronJob allowed to overlap its runs is refused: its need has no bound', () => {
    const objects = parseManifests(`
apiVersion: batch/v1
kind: CronJob
metadata: {name: piles}
spec: {jobTemplate: {spec: {template: {spec: {containers: [{name: j}]}}}}}
`);
    assert.throws(() => capacityNeed(objects), /CronJob\/piles: concurrencyPolicy Allow lets runs pile up/);
  });
});
