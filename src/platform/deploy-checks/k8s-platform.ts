import { capacityNeed, parseQuantity, quotaHard, quotaShortfalls } from './k8s-capacity.ts';
import {
  type Container,
  configMapData,
  envOf,
  type HttpProbe,
  K8S_DEPLOYMENTS,
  type K8sDeploymentName,
  type K8sObject,
  type K8sOverlay,
  OVERLAY_NAMESPACES,
  objectId,
  objectsOf,
  type PodSpec,
  podLabelsOf,
  podSpecOf,
  resolvePort,
} from './k8s-render.ts';

/**
 * The platform invariants of one rendered overlay (deploy/k8s/README.md states them): its namespace, the five
 * Deployments with their probes, hardening, shutdown timing and spread, their Services, PodDisruptionBudgets and
 * autoscalers, the ops volume, the PriorityClass of every pod, and a ResourceQuota that holds the computed need
 * within the LimitRange's bounds. Each returns problems, empty when the invariant holds.
 */

/** What differs between the two platforms. */
export interface PlatformExpectation {
  readonly namespace: string;
  readonly priorityClassName: string;
  /** users, quotes and search: autoscaled between these at this CPU utilisation. */
  readonly autoscaled: { readonly min: number; readonly max: number; readonly cpuPercent: number };
  readonly gatewayReplicas: number;
}

export const PLATFORM_EXPECTATIONS: Readonly<Record<K8sOverlay, PlatformExpectation>> = {
  production: {
    namespace: OVERLAY_NAMESPACES.production,
    priorityClassName: 'haddock-production',
    autoscaled: { min: 2, max: 5, cpuPercent: 80 },
    gatewayReplicas: 2,
  },
  qualification: {
    namespace: OVERLAY_NAMESPACES.qualification,
    priorityClassName: 'haddock-qualification',
    autoscaled: { min: 1, max: 2, cpuPercent: 80 },
    gatewayReplicas: 1,
  },
};

/** Per Deployment: its Service, its probe paths, the user its image runs as, whether an HPA scales it. */
interface DeploymentContract {
  readonly service: string;
  readonly portVariable: string;
  readonly metricsPortVariable: string;
  readonly readiness: string;
  readonly liveness: string;
  readonly runAsUser: number;
  readonly autoscaled: boolean;
}

const api = (svc: string): DeploymentContract => ({
  service: `haddock-${svc}`,
  portVariable: 'PORT',
  metricsPortVariable: 'METRICS_PORT',
  readiness: `/${svc}/health/ready`,
  liveness: `/${svc}/health/live`,
  runAsUser: 65532,
  autoscaled: true,
});

export const DEPLOYMENT_CONTRACT: Readonly<Record<K8sDeploymentName, DeploymentContract>> = {
  'users-service': api('users'),
  'quotes-service': api('quotes'),
  'search-service': api('search'),
  'ops-service': { ...api('ops'), runAsUser: 10001, autoscaled: false },
  gateway: {
    service: 'haddock-gateway',
    portVariable: 'GATEWAY_PORT',
    metricsPortVariable: 'GATEWAY_METRICS_PORT',
    readiness: '/gateway/health',
    liveness: '/gateway/health',
    runAsUser: 65532,
    autoscaled: false,
  },
};

/** The ops service's backup volume and where the service reads it (BACKUP_DIR). */
export const OPS_BACKUP_CLAIM = 'ops-backups';

/** Kinds without a namespace: every other rendered object must be in the overlay's. */
const CLUSTER_SCOPED = new Set([
  'Namespace',
  'PriorityClass',
  'ClusterRole',
  'ClusterRoleBinding',
  'StorageClass',
  'CustomResourceDefinition',
  'IngressClass',
]);

function get(value: unknown, ...path: (string | number)[]): unknown {
  let node = value;
  for (const key of path) {
    if (typeof node !== 'object' || node === null) return undefined;
    node = (node as Record<string | number, unknown>)[key];
  }
  return node;
}

function matches(selector: unknown, labels: Readonly<Record<string, string>>): boolean {
  const wanted = (get(selector, 'matchLabels') ?? selector ?? {}) as Record<string, string>;
  return Object.keys(wanted).length > 0 && Object.entries(wanted).every(([k, v]) => labels[k] === v);
}

/** The overlay's Namespace exists and every namespaced object is in it. */
export function checkNamespaces(objects: readonly K8sObject[], expected: PlatformExpectation): string[] {
  const problems: string[] = [];
  if (!objects.some((o) => o.kind === 'Namespace' && o.metadata.name === expected.namespace))
    problems.push(`Namespace ${expected.namespace} is not rendered`);
  for (const obj of objects) {
    if (CLUSTER_SCOPED.has(obj.kind)) continue;
    if (obj.metadata.namespace !== expected.namespace)
      problems.push(`${objectId(obj)} is not in namespace ${expected.namespace}`);
  }
  return problems;
}

function probeProblems(
  id: string,
  container: Container,
  kind: 'readinessProbe' | 'livenessProbe' | 'startupProbe',
  path: string,
  httpPort: number | undefined,
): string[] {
  const probe = container[kind] as HttpProbe | undefined;
  if (probe === undefined) return kind === 'startupProbe' ? [] : [`${id}: no ${kind}`];
  const problems: string[] = [];
  if (probe.httpGet?.path !== path)
    problems.push(`${id}: ${kind} path is ${probe.httpGet?.path ?? 'not HTTP'}, expected ${path}`);
  else if (resolvePort(container, probe.httpGet.port) !== httpPort)
    problems.push(`${id}: ${kind} port ${String(probe.httpGet.port)} is not the http port ${String(httpPort)}`);
  return problems;
}

function hardeningProblems(id: string, spec: PodSpec, container: Container, runAsUser: number): string[] {
  const problems: string[] = [];
  const pod = spec.securityContext ?? {};
  const own = container.securityContext ?? {};
  if (pod.runAsNonRoot !== true) problems.push(`${id}: pod securityContext.runAsNonRoot is not true`);
  if (pod.runAsUser !== runAsUser) problems.push(`${id}: pod runAsUser is ${String(pod.runAsUser)}, expected ${runAsUser}`);
  if (get(pod, 'seccompProfile', 'type') !== 'RuntimeDefault') problems.push(`${id}: pod seccompProfile is not RuntimeDefault`);
  if (own.readOnlyRootFilesystem !== true) problems.push(`${id}: readOnlyRootFilesystem is not true`);
  if (own.allowPrivilegeEscalation !== false) problems.push(`${id}: allowPrivilegeEscalation is not false`);
  const drop = (get(own, 'capabilities', 'drop') ?? []) as string[];
  if (!drop.includes('ALL')) problems.push(`${id}: capabilities do not drop ALL`);
  if (((get(own, 'capabilities', 'add') ?? []) as string[]).length > 0) problems.push(`${id}: capabilities added`);
  if (spec.automountServiceAccountToken !== false) problems.push(`${id}: automountServiceAccountToken is not false`);
  const tmp = container.volumeMounts?.find((m) => m.mountPath === '/tmp');
  const tmpVolume = spec.volumes?.find((v) => v.name === tmp?.name);
  if (tmpVolume?.emptyDir === undefined) problems.push(`${id}: /tmp is not an emptyDir (the root file system is read-only)`);
  return problems;
}

/**
 * The shutdown timing: a preStop `sleep` (Kubernetes 1.30) so the endpoint is gone before SIGTERM, then
 * SHUTDOWN_GRACE_MS (set explicitly) to drain, all within terminationGracePeriodSeconds.
 */
function shutdownProblems(
  id: string,
  spec: PodSpec,
  container: Container,
  env: ReadonlyMap<string, { value: string }>,
): string[] {
  const problems: string[] = [];
  const sleep = get(container, 'lifecycle', 'preStop', 'sleep', 'seconds');
  if (typeof sleep !== 'number' || sleep < 1) problems.push(`${id}: no preStop sleep action`);
  const graceMs = env.get('SHUTDOWN_GRACE_MS')?.value;
  if (graceMs === undefined || !/^\d+$/.test(graceMs)) problems.push(`${id}: SHUTDOWN_GRACE_MS is not set explicitly`);
  const period = spec.terminationGracePeriodSeconds;
  if (typeof period !== 'number') problems.push(`${id}: terminationGracePeriodSeconds is not set`);
  else if (typeof sleep === 'number' && graceMs !== undefined && period <= sleep + Number(graceMs) / 1000)
    problems.push(
      `${id}: terminationGracePeriodSeconds ${period} is not longer than the preStop sleep ${sleep} s + SHUTDOWN_GRACE_MS ${graceMs} ms`,
    );
  return problems;
}

function spreadProblems(id: string, spec: PodSpec, podLabels: Readonly<Record<string, string>>): string[] {
  const constraints = (spec.topologySpreadConstraints ?? []) as {
    topologyKey?: string;
    whenUnsatisfiable?: string;
    labelSelector?: unknown;
  }[];
  const problems: string[] = [];
  for (const key of ['topology.kubernetes.io/zone', 'kubernetes.io/hostname']) {
    const c = constraints.find((x) => x.topologyKey === key);
    if (c === undefined) problems.push(`${id}: no topologySpreadConstraint on ${key}`);
    else if (c.whenUnsatisfiable !== 'ScheduleAnyway')
      problems.push(
        `${id}: the ${key} spread is ${String(c.whenUnsatisfiable)}, expected ScheduleAnyway (never leave a pod pending)`,
      );
    else if (!matches(c.labelSelector, podLabels)) problems.push(`${id}: the ${key} spread does not select its own pods`);
  }
  return problems;
}

/** The resource fallbacks the metrics read: MEMORY_LIMIT_BYTES from the limit itself, CPU_LIMIT_CORES equal to it. */
function limitVariableProblems(id: string, container: Container, env: ReadonlyMap<string, ResolvedValue>): string[] {
  const problems: string[] = [];
  const memory = env.get('MEMORY_LIMIT_BYTES');
  if (memory !== undefined && !(memory.source.kind === 'resource' && memory.source.resource === 'limits.memory'))
    problems.push(`${id}: MEMORY_LIMIT_BYTES is not the downward API's limits.memory`);
  const cpu = env.get('CPU_LIMIT_CORES')?.value;
  const limit = container.resources?.limits?.cpu;
  if (cpu !== undefined && (limit === undefined || Math.abs(Number(cpu) - parseQuantity(limit)) > 1e-9))
    problems.push(`${id}: CPU_LIMIT_CORES ${cpu} is not the CPU limit ${String(limit)}`);
  return problems;
}

type ResolvedValue = { value: string; source: { kind: string; resource?: string } };

/** One Deployment of the contract: everything above, plus its image, ports, Service and PodDisruptionBudget. */
export function checkDeployment(objects: readonly K8sObject[], name: K8sDeploymentName, expected: PlatformExpectation): string[] {
  const deployment = objects.find((o) => o.kind === 'Deployment' && o.metadata.name === name);
  if (deployment === undefined) return [`Deployment/${name} is not rendered`];
  const contract = DEPLOYMENT_CONTRACT[name];
  const id = `Deployment/${name}`;
  const spec = podSpecOf(deployment) as PodSpec;
  const container = spec.containers.find((c) => c.name === K8S_DEPLOYMENTS[name]);
  if (container === undefined) return [`${id}: no container named ${K8S_DEPLOYMENTS[name]}`];
  const env = envOf(container, configMapData(objects)) as unknown as Map<string, ResolvedValue>;
  const labels = podLabelsOf(deployment);
  const problems: string[] = [];

  const image = container.image ?? '';
  if (!/:[\w][\w.-]*$/.test(image) || image.endsWith(':latest')) problems.push(`${id}: image ${image} has no pinned tag`);
  const httpPort = container.ports?.find((p) => p.name === 'http')?.containerPort;
  const metricsPort = container.ports?.find((p) => p.name === 'metrics')?.containerPort;
  if (httpPort === undefined || metricsPort === undefined)
    problems.push(`${id}: container ports http and metrics not both named`);
  if (env.get(contract.portVariable)?.value !== String(httpPort))
    problems.push(
      `${id}: ${contract.portVariable} is ${env.get(contract.portVariable)?.value ?? 'unset'}, the http port is ${String(httpPort)}`,
    );
  if (env.get(contract.metricsPortVariable)?.value !== String(metricsPort))
    problems.push(
      `${id}: ${contract.metricsPortVariable} is ${env.get(contract.metricsPortVariable)?.value ?? 'unset'}, the metrics port is ${String(metricsPort)}`,
    );
  problems.push(...probeProblems(id, container, 'readinessProbe', contract.readiness, httpPort));
  problems.push(...probeProblems(id, container, 'livenessProbe', contract.liveness, httpPort));
  problems.push(...probeProblems(id, container, 'startupProbe', contract.liveness, httpPort));
  for (const kind of ['requests', 'limits'] as const)
    for (const resource of ['cpu', 'memory'])
      if (container.resources?.[kind]?.[resource] === undefined) problems.push(`${id}: no ${kind}.${resource}`);
  problems.push(...hardeningProblems(id, spec, container, contract.runAsUser));
  problems.push(...shutdownProblems(id, spec, container, env));
  problems.push(...spreadProblems(id, spec, labels));
  problems.push(...limitVariableProblems(id, container, env));
  if (spec.priorityClassName !== expected.priorityClassName)
    problems.push(`${id}: priorityClassName is ${String(spec.priorityClassName)}, expected ${expected.priorityClassName}`);

  const service = objects.find((o) => o.kind === 'Service' && o.metadata.name === contract.service);
  if (service === undefined) problems.push(`${id}: Service ${contract.service} is not rendered`);
  else {
    if (!matches(get(service, 'spec', 'selector'), labels))
      problems.push(`Service/${contract.service} does not select ${id}'s pods`);
    const ports = (get(service, 'spec', 'ports') ?? []) as { name?: string; port?: number; targetPort?: number | string }[];
    for (const [portName, number] of [
      ['http', httpPort],
      ['metrics', metricsPort],
    ] as const) {
      const port = ports.find((p) => p.name === portName);
      if (port === undefined || port.port !== number || resolvePort(container, port.targetPort ?? port.port ?? 0) !== number)
        problems.push(
          `Service/${contract.service}: port ${portName} is not ${String(number)} to the container's ${portName} port`,
        );
    }
  }

  const pdbs = objectsOf(objects, 'PodDisruptionBudget').filter((p) => matches(get(p, 'spec', 'selector'), labels));
  if (pdbs.length !== 1) problems.push(`${id}: ${pdbs.length} PodDisruptionBudgets select its pods, expected 1`);
  const hpa = objectsOf(objects, 'HorizontalPodAutoscaler').find(
    (h) => get(h, 'spec', 'scaleTargetRef', 'kind') === 'Deployment' && get(h, 'spec', 'scaleTargetRef', 'name') === name,
  );
  const maxReplicas =
    hpa === undefined
      ? ((get(deployment, 'spec', 'replicas') as number | undefined) ?? 1)
      : (get(hpa, 'spec', 'maxReplicas') as number);
  for (const pdb of pdbs) {
    const minAvailable = get(pdb, 'spec', 'minAvailable');
    if (typeof minAvailable === 'number' && minAvailable >= maxReplicas)
      problems.push(
        `PodDisruptionBudget/${pdb.metadata.name}: minAvailable ${minAvailable} with ${maxReplicas} replica(s) blocks every drain`,
      );
  }
  if (contract.autoscaled) problems.push(...hpaProblems(id, deployment, hpa, expected));
  else if (hpa !== undefined) problems.push(`${id} must not be autoscaled (HorizontalPodAutoscaler/${hpa.metadata.name})`);
  return problems;
}

function hpaProblems(id: string, deployment: K8sObject, hpa: K8sObject | undefined, expected: PlatformExpectation): string[] {
  if (hpa === undefined) return [`${id}: no HorizontalPodAutoscaler`];
  const problems: string[] = [];
  const { min, max, cpuPercent } = expected.autoscaled;
  if (hpa.apiVersion !== 'autoscaling/v2') problems.push(`${objectId(hpa)} is ${hpa.apiVersion}, expected autoscaling/v2`);
  if (get(hpa, 'spec', 'minReplicas') !== min || get(hpa, 'spec', 'maxReplicas') !== max)
    problems.push(
      `${objectId(hpa)}: ${String(get(hpa, 'spec', 'minReplicas'))}–${String(get(hpa, 'spec', 'maxReplicas'))} replicas, expected ${min}–${max}`,
    );
  const metrics = (get(hpa, 'spec', 'metrics') ?? []) as unknown[];
  const cpu = metrics.find((m) => get(m, 'type') === 'Resource' && get(m, 'resource', 'name') === 'cpu');
  if (
    get(cpu, 'resource', 'target', 'type') !== 'Utilization' ||
    get(cpu, 'resource', 'target', 'averageUtilization') !== cpuPercent
  )
    problems.push(`${objectId(hpa)}: no CPU target of ${cpuPercent} % utilisation`);
  if (get(deployment, 'spec', 'replicas') !== undefined)
    problems.push(`${id}: sets replicas while an HPA scales it (each apply would reset the count)`);
  return problems;
}

/** The ops service: one replica, Recreate, its ReadWriteOnce claim mounted where BACKUP_DIR says. */
export function checkOpsVolume(objects: readonly K8sObject[]): string[] {
  const ops = objects.find((o) => o.kind === 'Deployment' && o.metadata.name === 'ops-service');
  if (ops === undefined) return ['Deployment/ops-service is not rendered'];
  const problems: string[] = [];
  if (get(ops, 'spec', 'replicas') !== 1)
    problems.push('Deployment/ops-service: replicas is not 1 (its volume is ReadWriteOnce)');
  if (get(ops, 'spec', 'strategy', 'type') !== 'Recreate') problems.push('Deployment/ops-service: strategy is not Recreate');
  const claim = objects.find((o) => o.kind === 'PersistentVolumeClaim' && o.metadata.name === OPS_BACKUP_CLAIM);
  if (claim === undefined) return [...problems, `PersistentVolumeClaim/${OPS_BACKUP_CLAIM} is not rendered`];
  if (!((get(claim, 'spec', 'accessModes') ?? []) as string[]).includes('ReadWriteOnce'))
    problems.push(`PersistentVolumeClaim/${OPS_BACKUP_CLAIM} is not ReadWriteOnce`);
  const spec = podSpecOf(ops) as PodSpec;
  const volume = spec.volumes?.find((v) => get(v, 'persistentVolumeClaim', 'claimName') === OPS_BACKUP_CLAIM);
  const container = spec.containers.find((c) => c.name === 'ops');
  const mount = container?.volumeMounts?.find((m) => m.name === volume?.name);
  const backupDir = container === undefined ? undefined : envOf(container, configMapData(objects)).get('BACKUP_DIR')?.value;
  if (mount === undefined || mount.mountPath !== backupDir)
    problems.push(`Deployment/ops-service: ${OPS_BACKUP_CLAIM} is not mounted at BACKUP_DIR (${String(backupDir)})`);
  if (typeof get(spec, 'securityContext', 'fsGroup') !== 'number')
    problems.push('Deployment/ops-service: no fsGroup (the volume would not be writable by the non-root user)');
  return problems;
}

/** Every pod template (Deployment, StatefulSet, CronJob, …) runs at the platform's PriorityClass. */
export function checkPriorityClasses(objects: readonly K8sObject[], expected: PlatformExpectation): string[] {
  return objects
    .filter((o) => podSpecOf(o) !== undefined && podSpecOf(o)?.priorityClassName !== expected.priorityClassName)
    .map(
      (o) =>
        `${objectId(o)}: priorityClassName is ${String(podSpecOf(o)?.priorityClassName)}, expected ${expected.priorityClassName}`,
    );
}

/** Every container within the LimitRange's min and max (or admission refuses the pod), every claim within its bounds. */
export function checkLimitRange(objects: readonly K8sObject[]): string[] {
  const ranges = objectsOf(objects, 'LimitRange');
  if (ranges.length === 0) return ['no LimitRange'];
  const problems: string[] = [];
  const items = ranges.flatMap((r) => (get(r, 'spec', 'limits') ?? []) as Record<string, Record<string, string>>[]);
  const container = items.find((i) => (i.type as unknown as string) === 'Container');
  const claim = items.find((i) => (i.type as unknown as string) === 'PersistentVolumeClaim');
  for (const obj of objects) {
    const spec = podSpecOf(obj);
    if (spec === undefined || container === undefined) continue;
    for (const c of [...(spec.initContainers ?? []), ...spec.containers]) {
      for (const resource of ['cpu', 'memory']) {
        const limit = c.resources?.limits?.[resource] ?? container.default?.[resource];
        const request =
          c.resources?.requests?.[resource] ?? c.resources?.limits?.[resource] ?? container.defaultRequest?.[resource] ?? limit;
        const max = container.max?.[resource];
        const min = container.min?.[resource];
        if (max !== undefined && limit !== undefined && parseQuantity(limit) > parseQuantity(max))
          problems.push(
            `${objectId(obj)} container ${c.name}: limits.${resource} ${String(limit)} over the LimitRange max ${max}`,
          );
        if (min !== undefined && request !== undefined && parseQuantity(request) < parseQuantity(min))
          problems.push(
            `${objectId(obj)} container ${c.name}: requests.${resource} ${String(request)} under the LimitRange min ${min}`,
          );
      }
    }
  }
  const claims: [string, string | undefined][] = [
    ...objectsOf(objects, 'PersistentVolumeClaim').map(
      (o) =>
        [objectId(o), get(o, 'spec', 'resources', 'requests', 'storage') as string | undefined] as [string, string | undefined],
    ),
    ...objectsOf(objects, 'StatefulSet').flatMap((o) =>
      ((get(o, 'spec', 'volumeClaimTemplates') ?? []) as unknown[]).map(
        (t) =>
          [
            `${objectId(o)} claim ${String(get(t, 'metadata', 'name'))}`,
            get(t, 'spec', 'resources', 'requests', 'storage') as string | undefined,
          ] as [string, string | undefined],
      ),
    ),
  ];
  for (const [id, size] of claims) {
    if (claim === undefined || size === undefined) continue;
    const max = claim.max?.storage;
    const min = claim.min?.storage;
    if (max !== undefined && parseQuantity(size) > parseQuantity(max))
      problems.push(`${id}: ${size} over the LimitRange max ${max}`);
    if (min !== undefined && parseQuantity(size) < parseQuantity(min))
      problems.push(`${id}: ${size} under the LimitRange min ${min}`);
  }
  return problems;
}

/** The ResourceQuota holds the need computed from the objects themselves (k8s-capacity.ts). */
export function checkQuota(objects: readonly K8sObject[]): string[] {
  if (objectsOf(objects, 'ResourceQuota').length === 0) return ['no ResourceQuota'];
  return quotaShortfalls(capacityNeed(objects).total, quotaHard(objects));
}

/** Every invariant above for one rendered overlay. */
export function checkPlatform(objects: readonly K8sObject[], overlay: K8sOverlay): string[] {
  const expected = PLATFORM_EXPECTATIONS[overlay];
  const problems = [...checkNamespaces(objects, expected)];
  for (const name of Object.keys(K8S_DEPLOYMENTS) as K8sDeploymentName[])
    problems.push(...checkDeployment(objects, name, expected));
  const gateway = objects.find((o) => o.kind === 'Deployment' && o.metadata.name === 'gateway');
  if (gateway !== undefined && get(gateway, 'spec', 'replicas') !== expected.gatewayReplicas)
    problems.push(
      `Deployment/gateway: replicas ${String(get(gateway, 'spec', 'replicas'))}, expected ${expected.gatewayReplicas}`,
    );
  problems.push(
    ...checkOpsVolume(objects),
    ...checkPriorityClasses(objects, expected),
    ...checkLimitRange(objects),
    ...checkQuota(objects),
  );
  return problems;
}

/** cluster/: production's PriorityClass above qualification's, neither the default, qualification never preempting. */
export function checkClusterPriorityClasses(objects: readonly K8sObject[]): string[] {
  const classes = new Map(
    objectsOf(objects, 'PriorityClass').map((p) => [p.metadata.name, p as K8sObject & Record<string, unknown>]),
  );
  const production = classes.get(PLATFORM_EXPECTATIONS.production.priorityClassName);
  const qualification = classes.get(PLATFORM_EXPECTATIONS.qualification.priorityClassName);
  if (production === undefined || qualification === undefined)
    return ['PriorityClasses haddock-production and haddock-qualification are not both rendered'];
  const problems: string[] = [];
  if (!((production.value as number) > (qualification.value as number)))
    problems.push(
      `PriorityClass haddock-production (${String(production.value)}) is not above haddock-qualification (${String(qualification.value)})`,
    );
  for (const p of classes.values())
    if (p.globalDefault === true) problems.push(`PriorityClass ${p.metadata.name} is the cluster's default`);
  if (qualification.preemptionPolicy !== 'Never')
    problems.push('PriorityClass haddock-qualification may preempt (preemptionPolicy is not Never)');
  return problems;
}
