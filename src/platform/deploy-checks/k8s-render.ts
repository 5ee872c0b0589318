import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { REPOSITORY_ROOT } from '../monitoring-config/index.ts';

/** The Kubernetes manifests' folder, relative to the repository root. */
export const K8S_DIR = 'deploy/k8s';

/** The two platforms, each an overlay in its own namespace. */
export const K8S_OVERLAYS = ['qualification', 'production'] as const;
export type K8sOverlay = (typeof K8S_OVERLAYS)[number];

/** The overlay folders, relative to the repository root. */
export const OVERLAY_DIRS: Readonly<Record<K8sOverlay, string>> = {
  qualification: `${K8S_DIR}/overlays/qualification`,
  production: `${K8S_DIR}/overlays/production`,
};

/** The cluster-scoped objects, applied once (PriorityClasses). */
export const CLUSTER_DIR = `${K8S_DIR}/cluster`;

/** Example overlays exercising the optional components (each renders on its own). */
export const EXAMPLE_DIRS = {
  productionSentinel: `${K8S_DIR}/examples/production-sentinel`,
  certManager: `${K8S_DIR}/examples/cert-manager`,
} as const;

/** The namespace each overlay deploys into. */
export const OVERLAY_NAMESPACES: Readonly<Record<K8sOverlay, string>> = {
  qualification: 'haddock-qualification',
  production: 'haddock-production',
};

/** The platform's Deployments: name → the container named after the service. */
export const K8S_DEPLOYMENTS = {
  'users-service': 'users',
  'quotes-service': 'quotes',
  'search-service': 'search',
  'ops-service': 'ops',
  gateway: 'gateway',
} as const;
export type K8sDeploymentName = keyof typeof K8S_DEPLOYMENTS;

export interface K8sMetadata {
  readonly name: string;
  readonly namespace?: string;
  readonly labels?: Readonly<Record<string, string>>;
  readonly annotations?: Readonly<Record<string, string>>;
  readonly [key: string]: unknown;
}

/** One rendered object: what every Kubernetes object has, the rest left as parsed. */
export interface K8sObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: K8sMetadata;
  readonly [key: string]: unknown;
}

export interface EnvVar {
  readonly name: string;
  readonly value?: string;
  readonly valueFrom?: {
    readonly configMapKeyRef?: { readonly name: string; readonly key: string; readonly optional?: boolean };
    readonly secretKeyRef?: { readonly name: string; readonly key: string; readonly optional?: boolean };
    readonly fieldRef?: { readonly fieldPath: string };
    readonly resourceFieldRef?: { readonly resource: string; readonly containerName?: string; readonly divisor?: unknown };
  };
}

export interface HttpProbe {
  readonly httpGet?: { readonly path?: string; readonly port: number | string; readonly scheme?: string };
  readonly exec?: { readonly command?: readonly string[] };
  readonly tcpSocket?: { readonly port: number | string };
  readonly initialDelaySeconds?: number;
  readonly periodSeconds?: number;
  readonly failureThreshold?: number;
  readonly timeoutSeconds?: number;
}

export interface Container {
  readonly name: string;
  readonly image?: string;
  readonly command?: readonly string[];
  readonly args?: readonly string[];
  readonly env?: readonly EnvVar[];
  readonly envFrom?: readonly {
    readonly configMapRef?: { readonly name: string; readonly optional?: boolean };
    readonly secretRef?: { readonly name: string; readonly optional?: boolean };
    readonly prefix?: string;
  }[];
  readonly ports?: readonly { readonly name?: string; readonly containerPort: number; readonly protocol?: string }[];
  readonly resources?: {
    readonly requests?: Readonly<Record<string, string | number>>;
    readonly limits?: Readonly<Record<string, string | number>>;
  };
  readonly readinessProbe?: HttpProbe;
  readonly livenessProbe?: HttpProbe;
  readonly startupProbe?: HttpProbe;
  readonly securityContext?: Readonly<Record<string, unknown>>;
  readonly volumeMounts?: readonly { readonly name: string; readonly mountPath: string; readonly subPath?: string }[];
  readonly restartPolicy?: string;
  readonly [key: string]: unknown;
}

export interface PodSpec {
  readonly containers: readonly Container[];
  readonly initContainers?: readonly Container[];
  readonly securityContext?: Readonly<Record<string, unknown>>;
  readonly volumes?: readonly (Readonly<Record<string, unknown>> & { readonly name: string })[];
  readonly [key: string]: unknown;
}

/** Where kubectl comes from, said when it is missing. */
const KUBECTL_HINT =
  'kubectl (v1.27+, with Kustomize v5) is needed to render deploy/k8s: install it from https://kubernetes.io/docs/tasks/tools/ ' +
  '(e.g. `curl -LO https://dl.k8s.io/release/v1.32.0/bin/linux/amd64/kubectl && install kubectl /usr/local/bin/`) and put it on PATH';

/**
 * Renders a kustomization (`kubectl kustomize <dir>`, `dir` relative to the repository root) into its objects.
 * Throws naming kubectl and how to install it when it is missing; a render error carries kustomize's message.
 */
export function renderKustomization(dir: string, root: string = REPOSITORY_ROOT): K8sObject[] {
  let text: string;
  try {
    text = execFileSync('kubectl', ['kustomize', dir], {
      cwd: root,
      encoding: 'utf8',
      maxBuffer: 64 * 1024 * 1024,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (error) {
    const err = error as NodeJS.ErrnoException & { stderr?: string };
    if (err.code === 'ENOENT') throw new Error(`kubectl is not installed or not on PATH. ${KUBECTL_HINT}`, { cause: error });
    throw new Error(`kubectl kustomize ${dir} failed: ${String(err.stderr ?? err.message).trim()}`);
  }
  return parseManifests(text, dir);
}

/** Renders one platform's overlay (deploy/k8s/overlays/<name>). */
export function renderOverlay(name: K8sOverlay): K8sObject[] {
  return renderKustomization(OVERLAY_DIRS[name]);
}

/** Parses a multi-document YAML stream of Kubernetes objects (empty documents dropped); throws on a malformed one. */
export function parseManifests(text: string, source = 'manifests'): K8sObject[] {
  const objects: K8sObject[] = [];
  for (const [i, doc] of parseAllDocuments(text).entries()) {
    if (doc.errors.length > 0) throw new Error(`${source}: document ${i}: ${doc.errors.map((e) => e.message).join('; ')}`);
    const value: unknown = doc.toJS({ maxAliasCount: -1 });
    if (value === null || value === undefined) continue;
    const obj = value as Partial<K8sObject>;
    if (typeof obj !== 'object' || typeof obj.kind !== 'string' || typeof obj.apiVersion !== 'string')
      throw new Error(`${source}: document ${i} is not a Kubernetes object (no kind/apiVersion)`);
    if (typeof obj.metadata?.name !== 'string') throw new Error(`${source}: ${obj.kind} document ${i} has no metadata.name`);
    objects.push(obj as K8sObject);
  }
  return objects;
}

/** `Kind/name` (with the namespace when there is one): how problems name an object. */
export function objectId(obj: K8sObject): string {
  return `${obj.kind}/${obj.metadata.name}${obj.metadata.namespace === undefined ? '' : ` (${obj.metadata.namespace})`}`;
}

/** The objects of a kind. */
export function objectsOf(objects: readonly K8sObject[], kind: string): K8sObject[] {
  return objects.filter((o) => o.kind === kind);
}

/** The object of a kind and name; throws naming it when absent. */
export function findObject(objects: readonly K8sObject[], kind: string, name: string): K8sObject {
  const found = objects.find((o) => o.kind === kind && o.metadata.name === name);
  if (found === undefined) throw new Error(`${kind}/${name} is not rendered`);
  return found;
}

/** Workload kinds whose pod template podSpecOf reads. */
export const WORKLOAD_KINDS = ['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'Job', 'CronJob', 'Pod'] as const;

function get(value: unknown, ...path: string[]): unknown {
  let node = value;
  for (const key of path) {
    if (typeof node !== 'object' || node === null) return undefined;
    node = (node as Record<string, unknown>)[key];
  }
  return node;
}

/** The pod spec of a workload (Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob, Pod), or undefined for anything else. */
export function podSpecOf(obj: K8sObject): PodSpec | undefined {
  const spec =
    obj.kind === 'Pod'
      ? get(obj, 'spec')
      : obj.kind === 'CronJob'
        ? get(obj, 'spec', 'jobTemplate', 'spec', 'template', 'spec')
        : (WORKLOAD_KINDS as readonly string[]).includes(obj.kind)
          ? get(obj, 'spec', 'template', 'spec')
          : undefined;
  return spec === undefined ? undefined : (spec as PodSpec);
}

/** The pod template's labels of a workload. */
export function podLabelsOf(obj: K8sObject): Readonly<Record<string, string>> {
  const template = obj.kind === 'CronJob' ? get(obj, 'spec', 'jobTemplate', 'spec', 'template') : get(obj, 'spec', 'template');
  return (get(template, 'metadata', 'labels') ?? {}) as Record<string, string>;
}

/** A workload's containers (init containers included when asked). */
export function containersOf(obj: K8sObject, options: { init?: boolean } = {}): Container[] {
  const spec = podSpecOf(obj);
  if (spec === undefined) return [];
  return [...(options.init === true ? (spec.initContainers ?? []) : []), ...(spec.containers ?? [])];
}

/** A workload's container by name; throws naming it when absent. */
export function containerOf(obj: K8sObject, name: string): Container {
  const found = containersOf(obj, { init: true }).find((c) => c.name === name);
  if (found === undefined) throw new Error(`${objectId(obj)} has no container ${name}`);
  return found;
}

/** The rendered ConfigMaps' data by name (what envFrom and configMapKeyRef read). */
export function configMapData(objects: readonly K8sObject[]): Map<string, Readonly<Record<string, string>>> {
  return new Map(
    objectsOf(objects, 'ConfigMap').map((cm) => [cm.metadata.name, (cm.data ?? {}) as Readonly<Record<string, string>>]),
  );
}

/** One resolved variable and where its value came from. */
export interface ResolvedEnvVar {
  readonly value: string;
  readonly source:
    | { readonly kind: 'literal' }
    | { readonly kind: 'configMap'; readonly name: string; readonly key: string }
    | { readonly kind: 'secret'; readonly name: string; readonly key: string }
    | { readonly kind: 'field'; readonly path: string }
    | { readonly kind: 'resource'; readonly resource: string };
}

/**
 * A container's environment as the kubelet builds it: `envFrom` ConfigMaps first (in order, prefix applied),
 * then `env` (later entries win), `valueFrom.configMapKeyRef` resolved from the rendered ConfigMaps,
 * `$(VAR)` references expanded. Secret references are kept with an empty value and their source
 * (values never leave the Secret); fieldRef and resourceFieldRef too. A reference to a missing ConfigMap
 * or key that is not optional throws, as the kubelet refuses to start the container.
 */
export function envOf(
  container: Container,
  configMaps: ReadonlyMap<string, Readonly<Record<string, string>>>,
): Map<string, ResolvedEnvVar> {
  const env = new Map<string, ResolvedEnvVar>();
  for (const from of container.envFrom ?? []) {
    const prefix = from.prefix ?? '';
    if (from.configMapRef !== undefined) {
      const data = configMaps.get(from.configMapRef.name);
      if (data === undefined) {
        if (from.configMapRef.optional === true) continue;
        throw new Error(`container ${container.name}: envFrom ConfigMap ${from.configMapRef.name} is not rendered`);
      }
      for (const [key, value] of Object.entries(data))
        env.set(`${prefix}${key}`, { value: String(value), source: { kind: 'configMap', name: from.configMapRef.name, key } });
    }
    if (from.secretRef !== undefined) {
      throw new Error(
        `container ${container.name}: envFrom Secret ${from.secretRef.name} puts secret values in the environment (mount it as files)`,
      );
    }
  }
  for (const item of container.env ?? []) {
    const ref = item.valueFrom;
    if (ref?.configMapKeyRef !== undefined) {
      const { name, key, optional } = ref.configMapKeyRef;
      const value = configMaps.get(name)?.[key];
      if (value === undefined) {
        if (optional === true) continue;
        throw new Error(`container ${container.name}: ${item.name} reads ConfigMap ${name} key ${key}, which is not rendered`);
      }
      env.set(item.name, { value: String(value), source: { kind: 'configMap', name, key } });
    } else if (ref?.secretKeyRef !== undefined) {
      env.set(item.name, { value: '', source: { kind: 'secret', name: ref.secretKeyRef.name, key: ref.secretKeyRef.key } });
    } else if (ref?.fieldRef !== undefined) {
      env.set(item.name, { value: '', source: { kind: 'field', path: ref.fieldRef.fieldPath } });
    } else if (ref?.resourceFieldRef !== undefined) {
      const { resource, divisor } = ref.resourceFieldRef;
      env.set(item.name, { value: resourceFieldValue(container, resource, divisor), source: { kind: 'resource', resource } });
    } else {
      const value = (item.value ?? '').replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (whole, name?: string) =>
        whole === '$$' ? '$' : (env.get(name ?? '')?.value ?? whole),
      );
      env.set(item.name, { value, source: { kind: 'literal' } });
    }
  }
  return env;
}

const SUFFIXES: Readonly<Record<string, number>> = {
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  '': 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

/** A Kubernetes quantity (`500m`, `0.5`, `256Mi`, `1G`, `1e3`) as a number (cores, bytes); throws on anything else. */
export function parseQuantity(value: string | number): number {
  if (typeof value === 'number') return value;
  const match = /^([+-]?(?:\d+\.?\d*|\.\d+))(?:([eE][+-]?\d+)|(n|u|m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?)$/.exec(value.trim());
  if (match === null) throw new Error(`not a Kubernetes quantity: "${value}"`);
  const base = Number(match[1]);
  if (match[2] !== undefined) return base * 10 ** Number(match[2].slice(1));
  return base * (SUFFIXES[match[3] ?? ''] ?? Number.NaN);
}

/**
 * What the downward API gives a `resourceFieldRef`: the container's request or limit divided by the divisor,
 * rounded up (the kubelet's rule). An unset limit would be the node's allocatable, unknown here: throws.
 */
export function resourceFieldValue(container: Container, resource: string, divisor: unknown = 1): string {
  const [kind, name] = resource.split('.') as [string, string | undefined];
  const table = kind === 'limits' ? container.resources?.limits : kind === 'requests' ? container.resources?.requests : undefined;
  const raw = name === undefined ? undefined : table?.[name];
  if (raw === undefined)
    throw new Error(`container ${container.name}: resourceFieldRef ${resource} names a value the container does not set`);
  return String(Math.ceil(parseQuantity(raw) / parseQuantity(divisor as string | number)));
}

/** The Secret and key a container reads at `path` through a mounted Secret volume, if it is one. */
export function secretFileOf(
  spec: PodSpec,
  container: Container,
  path: string,
): { readonly secret: string; readonly key: string } | undefined {
  for (const mount of container.volumeMounts ?? []) {
    const volume = spec.volumes?.find((v) => v.name === mount.name);
    const secret = volume?.secret as { secretName?: string; items?: readonly { key: string; path: string }[] } | undefined;
    if (secret?.secretName === undefined) continue;
    const base = mount.mountPath.replace(/\/+$/, '');
    if (mount.subPath !== undefined) {
      if (path === base) {
        const item = secret.items?.find((i) => i.path === mount.subPath);
        return { secret: secret.secretName, key: item?.key ?? mount.subPath };
      }
      continue;
    }
    if (!path.startsWith(`${base}/`)) continue;
    const relative = path.slice(base.length + 1);
    if (secret.items === undefined) return { secret: secret.secretName, key: relative };
    const item = secret.items.find((i) => i.path === relative);
    if (item !== undefined) return { secret: secret.secretName, key: item.key };
  }
  return undefined;
}

/** Just the values of {@link envOf}. */
export function envValuesOf(
  container: Container,
  configMaps: ReadonlyMap<string, Readonly<Record<string, string>>>,
): Record<string, string> {
  return Object.fromEntries([...envOf(container, configMaps)].map(([k, v]) => [k, v.value]));
}

/** A container port by name or number: its number, or undefined when a name is not declared. */
export function resolvePort(container: Container, port: number | string): number | undefined {
  if (typeof port === 'number') return port;
  if (/^\d+$/.test(port)) return Number(port);
  return container.ports?.find((p) => p.name === port)?.containerPort;
}

/** The absolute path of a repository-relative path. */
export function repoPath(relative: string): string {
  return join(REPOSITORY_ROOT, relative);
}
