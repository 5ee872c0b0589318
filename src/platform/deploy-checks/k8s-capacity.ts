import { type Container, type K8sObject, objectId, objectsOf, type PodSpec, parseQuantity, podSpecOf } from './k8s-render.ts';

/** One parser of quantities for every check: k8s-render's. */
export { parseQuantity };

/**
 * What a namespace's ResourceQuota must hold, computed from the rendered objects: every Deployment at its
 * HorizontalPodAutoscaler's maximum (or its replicas), a rolling update's surge, every StatefulSet, every
 * CronJob running at once, and their volumes. deploy/k8s/README.md prints the same figures.
 */

/** The quota resources sized here: CPU in cores, memory and storage in bytes. */
export interface Capacity {
  readonly pods: number;
  readonly 'requests.cpu': number;
  readonly 'requests.memory': number;
  readonly 'limits.cpu': number;
  readonly 'limits.memory': number;
  readonly persistentvolumeclaims: number;
  readonly 'requests.storage': number;
}

export const CAPACITY_KEYS = [
  'pods',
  'requests.cpu',
  'requests.memory',
  'limits.cpu',
  'limits.memory',
  'persistentvolumeclaims',
  'requests.storage',
] as const satisfies readonly (keyof Capacity)[];

/** One line of the computation: which workload, how many pods of it, and why. */
export interface CapacityLine {
  readonly workload: string;
  readonly pods: number;
  readonly why: string;
  readonly perPod: PodResources;
}

export interface CapacityNeed {
  readonly total: Capacity;
  readonly lines: readonly CapacityLine[];
}

export interface PodResources {
  readonly 'requests.cpu': number;
  readonly 'requests.memory': number;
  readonly 'limits.cpu': number;
  readonly 'limits.memory': number;
}

/** Container defaults a namespace's LimitRange applies to a container that sets none. */
export interface ContainerDefaults {
  readonly requests: Readonly<Record<string, string | number>>;
  readonly limits: Readonly<Record<string, string | number>>;
}

/** The Container-type defaults of the LimitRanges among `objects` (`default` → limits, `defaultRequest` → requests). */
export function limitRangeDefaults(objects: readonly K8sObject[]): ContainerDefaults {
  const requests: Record<string, string | number> = {};
  const limits: Record<string, string | number> = {};
  for (const range of objectsOf(objects, 'LimitRange')) {
    const items = ((range.spec as { limits?: unknown[] } | undefined)?.limits ?? []) as {
      type?: string;
      default?: Record<string, string>;
      defaultRequest?: Record<string, string>;
    }[];
    for (const item of items) {
      if (item.type !== 'Container') continue;
      Object.assign(limits, item.default ?? {});
      Object.assign(requests, item.defaultRequest ?? {});
    }
  }
  return { requests, limits };
}

/**
 * A container's requests and limits as the API server leaves them: a request it does not set equals its own
 * limit when it sets one (API defaulting, before admission), else the LimitRange's defaultRequest, else the
 * LimitRange's default limit; a limit it does not set is the LimitRange's default.
 */
function containerResources(container: Container, defaults: ContainerDefaults): PodResources {
  const one = (kind: 'requests' | 'limits', resource: 'cpu' | 'memory'): number => {
    const own = container.resources?.[kind]?.[resource];
    const value =
      kind === 'limits'
        ? (own ?? defaults.limits[resource])
        : (own ?? container.resources?.limits?.[resource] ?? defaults.requests[resource] ?? defaults.limits[resource]);
    return value === undefined ? 0 : parseQuantity(value);
  };
  return {
    'requests.cpu': one('requests', 'cpu'),
    'requests.memory': one('requests', 'memory'),
    'limits.cpu': one('limits', 'cpu'),
    'limits.memory': one('limits', 'memory'),
  };
}

const RESOURCE_KEYS = ['requests.cpu', 'requests.memory', 'limits.cpu', 'limits.memory'] as const;

/**
 * A pod's requests and limits as a ResourceQuota counts them: the sum of its containers (and of sidecar
 * init containers, `restartPolicy: Always`), or the largest other init container when that is larger.
 */
export function podResources(spec: PodSpec, defaults: ContainerDefaults): PodResources {
  const sidecars = (spec.initContainers ?? []).filter((c) => c.restartPolicy === 'Always');
  const inits = (spec.initContainers ?? []).filter((c) => c.restartPolicy !== 'Always');
  const running = [...spec.containers, ...sidecars].map((c) => containerResources(c, defaults));
  const initial = inits.map((c) => containerResources(c, defaults));
  const result = {} as Record<(typeof RESOURCE_KEYS)[number], number>;
  for (const key of RESOURCE_KEYS) {
    const sum = running.reduce((total, r) => total + r[key], 0);
    result[key] = Math.max(sum, ...initial.map((r) => r[key]));
  }
  return result;
}

function surgeOf(value: unknown, replicas: number, fallback: string): number {
  const raw = value ?? fallback;
  if (typeof raw === 'number') return raw;
  const percent = /^(\d+)%$/.exec(String(raw));
  if (percent !== null) return Math.ceil((replicas * Number(percent[1])) / 100);
  return Number(raw);
}

/**
 * Pods and resources the namespace needs at its busiest:
 * - a Deployment at its HPA's maxReplicas (else its replicas, default 1); during a rolling update, its maxSurge
 *   new pods plus as many old pods still terminating (a terminating pod counts against the quota until it is
 *   gone); a Recreate Deployment never runs old and new pods together;
 * - a StatefulSet at its replicas (its rolling update replaces one pod at a time, no surge), and its
 *   volumeClaimTemplates once per replica;
 * - every CronJob running at once, `parallelism` pods each (one with concurrencyPolicy Forbid or Replace;
 *   Allow is refused: runs could pile up without bound), and every Job;
 * - every PersistentVolumeClaim.
 */
export function capacityNeed(objects: readonly K8sObject[]): CapacityNeed {
  const defaults = limitRangeDefaults(objects);
  const hpaMax = new Map<string, number>();
  for (const hpa of objectsOf(objects, 'HorizontalPodAutoscaler')) {
    const spec = hpa.spec as { scaleTargetRef: { kind: string; name: string }; maxReplicas: number };
    hpaMax.set(`${spec.scaleTargetRef.kind}/${spec.scaleTargetRef.name}`, spec.maxReplicas);
  }
  const lines: CapacityLine[] = [];
  let pvcs = 0;
  let storage = 0;
  for (const obj of objects) {
    const spec = podSpecOf(obj);
    if (spec === undefined) {
      if (obj.kind === 'PersistentVolumeClaim') {
        pvcs += 1;
        const size = (obj.spec as { resources?: { requests?: { storage?: string } } }).resources?.requests?.storage;
        storage += size === undefined ? 0 : parseQuantity(size);
      }
      continue;
    }
    const perPod = podResources(spec, defaults);
    const workload = objectId(obj);
    const s = obj.spec as Record<string, unknown>;
    if (obj.kind === 'Deployment') {
      const max = hpaMax.get(`Deployment/${obj.metadata.name}`);
      const replicas = max ?? (typeof s.replicas === 'number' ? s.replicas : 1);
      const strategy = (s.strategy ?? {}) as { type?: string; rollingUpdate?: { maxSurge?: unknown } };
      const surge = strategy.type === 'Recreate' ? 0 : surgeOf(strategy.rollingUpdate?.maxSurge, replicas, '25%');
      const why = `${max === undefined ? `replicas ${replicas}` : `HPA max ${max}`}${
        surge === 0 ? ', Recreate: no surge' : ` + ${surge} surge + ${surge} terminating`
      }`;
      lines.push({ workload, pods: replicas + 2 * surge, why, perPod });
    } else if (obj.kind === 'StatefulSet') {
      const replicas = typeof s.replicas === 'number' ? s.replicas : 1;
      lines.push({ workload, pods: replicas, why: `replicas ${replicas}, one replaced at a time`, perPod });
      for (const claim of (s.volumeClaimTemplates ?? []) as { spec?: { resources?: { requests?: { storage?: string } } } }[]) {
        pvcs += replicas;
        const size = claim.spec?.resources?.requests?.storage;
        storage += replicas * (size === undefined ? 0 : parseQuantity(size));
      }
    } else if (obj.kind === 'CronJob') {
      const policy = (s.concurrencyPolicy as string | undefined) ?? 'Allow';
      if (policy === 'Allow') throw new Error(`${workload}: concurrencyPolicy Allow lets runs pile up; use Forbid or Replace`);
      const job = (s.jobTemplate as { spec?: { parallelism?: number } } | undefined)?.spec;
      const pods = job?.parallelism ?? 1;
      lines.push({ workload, pods, why: `one run at a time (${policy}), parallelism ${pods}`, perPod });
    } else if (obj.kind === 'Job') {
      const pods = (s.parallelism as number | undefined) ?? 1;
      lines.push({ workload, pods, why: `parallelism ${pods}`, perPod });
    } else {
      const pods = typeof s.replicas === 'number' ? s.replicas : 1;
      lines.push({ workload, pods, why: obj.kind, perPod });
    }
  }
  const sum = (key: keyof PodResources): number => lines.reduce((total, line) => total + line.pods * line.perPod[key], 0);
  return {
    lines,
    total: {
      pods: lines.reduce((total, line) => total + line.pods, 0),
      'requests.cpu': sum('requests.cpu'),
      'requests.memory': sum('requests.memory'),
      'limits.cpu': sum('limits.cpu'),
      'limits.memory': sum('limits.memory'),
      persistentvolumeclaims: pvcs,
      'requests.storage': storage,
    },
  };
}

/** The hard limits of the namespace's ResourceQuotas (the smallest when several set one), parsed. */
export function quotaHard(objects: readonly K8sObject[]): Partial<Record<keyof Capacity, number>> {
  const hard: Partial<Record<keyof Capacity, number>> = {};
  for (const quota of objectsOf(objects, 'ResourceQuota')) {
    const values = ((quota.spec as { hard?: Record<string, string | number> } | undefined)?.hard ?? {}) as Record<
      string,
      string | number
    >;
    for (const key of CAPACITY_KEYS) {
      const raw = values[key] ?? (key === 'requests.cpu' ? values.cpu : key === 'requests.memory' ? values.memory : undefined);
      if (raw === undefined) continue;
      const value = parseQuantity(raw);
      hard[key] = Math.min(hard[key] ?? Number.POSITIVE_INFINITY, value);
    }
  }
  return hard;
}

/** The quota resources the hard limits do not cover (absent, or below the need), each with both figures. */
export function quotaShortfalls(need: Capacity, hard: Partial<Record<keyof Capacity, number>>): string[] {
  const problems: string[] = [];
  for (const key of CAPACITY_KEYS) {
    const limit = hard[key];
    // A float sum of millicores (0.1 + 0.2) must not fail an exact quota: compare at a millionth.
    if (limit === undefined) problems.push(`${key}: no ResourceQuota sets it (needed ${formatQuantity(key, need[key])})`);
    else if (limit + 1e-6 < need[key])
      problems.push(`${key}: quota ${formatQuantity(key, limit)} < needed ${formatQuantity(key, need[key])}`);
  }
  return problems;
}

/** A figure in the unit people read: cores with millicores, MiB/GiB, plain counts. */
export function formatQuantity(key: keyof Capacity, value: number): string {
  if (key === 'requests.cpu' || key === 'limits.cpu') return `${Math.round(value * 1000)}m`;
  if (key === 'requests.memory' || key === 'limits.memory' || key === 'requests.storage') {
    return value >= 2 ** 30 && value % 2 ** 30 === 0 ? `${value / 2 ** 30}Gi` : `${Math.round(value / 2 ** 20)}Mi`;
  }
  return String(value);
}
