import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Env } from '../../lib/config/index.ts';
import { loadConfig as loadGatewayConfig } from '../gateway/config.ts';
import { parseDuration } from '../monitoring-config/duration.ts';
import { REPOSITORY_ROOT } from '../monitoring-config/index.ts';
import { envRecorder, errorMessages, execForm, LOADERS, RUNTIME_VARIABLES, type ServiceSettings } from './compose.ts';
import { parseStages, type Stage, stageEnv, unpinnedReason } from './dockerfile.ts';
import {
  type Container,
  configMapData,
  containersOf,
  envOf,
  K8S_DEPLOYMENTS,
  K8S_OVERLAYS,
  type K8sObject,
  type K8sOverlay,
  OVERLAY_NAMESPACES,
  objectId,
  podSpecOf,
  type ResolvedEnvVar,
  resolvePort,
  secretFileOf,
} from './k8s-render.ts';

/** The platform's processes as the manifests run them: the four services and the gateway. */
export type K8sProcess = (typeof K8S_DEPLOYMENTS)[keyof typeof K8S_DEPLOYMENTS];

/** What only the code's entry points know, handed in by the caller (the linter keeps src/platform from importing them). */
export interface K8sCode {
  /** Whether a process's app serves a route (its real route table: `buildApp(…).hasRoute`, the gateway's `buildGateway`). */
  readonly hasRoute: (process: K8sProcess, method: string, url: string) => boolean;
  /** Other programs reading a container's environment: the haddock CLI in the ops container. */
  readonly otherReaders?: Partial<Record<K8sProcess, readonly ((env: Env) => unknown)[]>>;
}

/** Each process's real `loadConfig`: the services' (compose.ts's table) and the gateway's. */
export const K8S_LOADERS: Readonly<Record<K8sProcess, (env: Env) => ServiceSettings>> = {
  ...LOADERS,
  gateway: loadGatewayConfig,
};

/** The Dockerfile stage each image is built from: its ENV is part of every container's environment. */
export const IMAGE_STAGES: Readonly<Record<string, string>> = { haddock: 'runtime', 'haddock-ops': 'ops' };

/** Workloads whose pod template the rules read. */
const WORKLOADS = ['Deployment', 'StatefulSet', 'DaemonSet', 'Job', 'CronJob'];
/** Workloads whose containers run until stopped: they need readiness and liveness probes. */
const LONG_RUNNING = ['Deployment', 'StatefulSet', 'DaemonSet'];
/** Kinds that live outside any namespace. */
const CLUSTER_SCOPED = [
  'Namespace',
  'PriorityClass',
  'ClusterRole',
  'ClusterRoleBinding',
  'CustomResourceDefinition',
  'StorageClass',
  'PersistentVolume',
  'ClusterIssuer',
];

/** A name that says it holds a secret (a `*_FILE` path to one is fine). */
export const SECRET_LIKE_NAME = /(PASSWORD|PASSWD|TOKEN|SECRET|_KEY|APIKEY)$/i;
/** A value that carries one: a URL with a password, a Redis `requirepass`/`masterauth` line with a literal. */
const SECRET_LIKE_VALUE = [
  { pattern: /[a-z][a-z0-9+.-]*:\/\/[^/\s:@]*:[^/\s@]+@/i, what: 'a URL with a password' },
  { pattern: /^\s*(requirepass|masterauth|sentinel\s+auth-pass\s+\S+)\s+\S+/im, what: 'a Redis password line' },
];

/** The image's name without registry, tag or digest (`registry/haddock-ops:0.1.0` → `haddock-ops`). */
export function imageName(image: string): string {
  const last = image.split('/').at(-1) ?? image;
  return last.split('@')[0]?.split(':')[0] ?? last;
}

/** The Dockerfile's stages, read once. */
export function readStages(root: string = REPOSITORY_ROOT): Stage[] {
  return parseStages(readFileSync(join(root, 'Dockerfile'), 'utf8'));
}

function securityProblems(obj: K8sObject, container: Container, where: string): string[] {
  const problems: string[] = [];
  const pod = (podSpecOf(obj)?.securityContext ?? {}) as Record<string, unknown>;
  const own = (container.securityContext ?? {}) as Record<string, unknown>;
  const effective = (key: string) => (own[key] !== undefined ? own[key] : pod[key]);
  if (effective('runAsNonRoot') !== true) problems.push(`${where}: runAsNonRoot must be true`);
  if (effective('runAsUser') === 0) problems.push(`${where}: runAsUser is 0 (root)`);
  if (own.readOnlyRootFilesystem !== true) problems.push(`${where}: readOnlyRootFilesystem must be true`);
  if (own.allowPrivilegeEscalation !== false) problems.push(`${where}: allowPrivilegeEscalation must be false`);
  if (own.privileged === true) problems.push(`${where}: privileged`);
  const capabilities = (own.capabilities ?? {}) as { drop?: unknown; add?: unknown };
  if (!Array.isArray(capabilities.drop) || !capabilities.drop.includes('ALL'))
    problems.push(`${where}: capabilities must drop ALL`);
  if (Array.isArray(capabilities.add) && capabilities.add.length > 0)
    problems.push(`${where}: capabilities add ${capabilities.add.join(', ')} (none may be kept)`);
  const seccomp = effective('seccompProfile') as { type?: unknown } | undefined;
  if (seccomp?.type !== 'RuntimeDefault') problems.push(`${where}: seccompProfile must be RuntimeDefault`);
  return problems;
}

function resourceProblems(container: Container, where: string): string[] {
  const problems: string[] = [];
  for (const table of ['requests', 'limits'] as const) {
    for (const resource of ['cpu', 'memory']) {
      if (container.resources?.[table]?.[resource] === undefined)
        problems.push(`${where}: resources.${table}.${resource} is not set`);
    }
  }
  return problems;
}

function probeProblems(obj: K8sObject, container: Container, where: string, init: boolean): string[] {
  const longRunning = LONG_RUNNING.includes(obj.kind) && (!init || container.restartPolicy === 'Always');
  if (!longRunning) return [];
  const problems: string[] = [];
  for (const probe of ['readinessProbe', 'livenessProbe'] as const)
    if (container[probe] === undefined) problems.push(`${where}: no ${probe}`);
  return problems;
}

function imageProblems(container: Container, where: string): string[] {
  if (container.image === undefined) return [`${where}: no image`];
  const reason = unpinnedReason(container.image);
  return reason === undefined ? [] : [`${where}: image ${container.image} ${reason}`];
}

/** Every workload container rule: security context, resources, probes, image. */
function workloadProblems(obj: K8sObject): string[] {
  const problems: string[] = [];
  const spec = podSpecOf(obj);
  if (spec === undefined) return [`${objectId(obj)}: no pod template`];
  const init = new Set(spec.initContainers ?? []);
  for (const container of containersOf(obj, { init: true })) {
    const where = `${objectId(obj)} container ${container.name}`;
    problems.push(
      ...securityProblems(obj, container, where),
      ...resourceProblems(container, where),
      ...probeProblems(obj, container, where, init.has(container)),
      ...imageProblems(container, where),
    );
    for (const item of container.env ?? []) {
      if (item.value !== undefined && item.value !== '' && SECRET_LIKE_NAME.test(item.name))
        problems.push(`${where}: env ${item.name} is a literal secret value (mount a Secret and set ${item.name}_FILE)`);
      for (const { pattern, what } of SECRET_LIKE_VALUE)
        if (item.value !== undefined && pattern.test(item.value)) problems.push(`${where}: env ${item.name} carries ${what}`);
    }
    for (const from of container.envFrom ?? [])
      if (from.secretRef !== undefined)
        problems.push(`${where}: envFrom Secret ${from.secretRef.name} puts secrets in the environment`);
  }
  return problems;
}

/** No secret in a ConfigMap: by key name (other than `*_FILE`) or by value. */
function configMapProblems(obj: K8sObject): string[] {
  const problems: string[] = [];
  for (const [key, value] of Object.entries((obj.data ?? {}) as Record<string, unknown>)) {
    if (SECRET_LIKE_NAME.test(key) && !/_FILE$/i.test(key))
      problems.push(`${objectId(obj)}: key ${key} looks like a secret; secrets go in Secrets, mounted as files`);
    for (const { pattern, what } of SECRET_LIKE_VALUE)
      if (pattern.test(String(value))) problems.push(`${objectId(obj)}: key ${key} carries ${what}`);
  }
  return problems;
}

/** Namespaces: the overlays apart, every namespaced object in its overlay's, a ResourceQuota and a LimitRange in each. */
function namespaceProblems(overlays: Readonly<Record<K8sOverlay, readonly K8sObject[]>>): string[] {
  const problems: string[] = [];
  const used = new Map<string, K8sOverlay>();
  for (const overlay of K8S_OVERLAYS) {
    const objects = overlays[overlay];
    const expected = OVERLAY_NAMESPACES[overlay];
    const namespaces = new Set<string>();
    for (const obj of objects) {
      if (CLUSTER_SCOPED.includes(obj.kind)) {
        if (obj.kind === 'Namespace') namespaces.add(obj.metadata.name);
        continue;
      }
      const ns = obj.metadata.namespace;
      if (ns === undefined) problems.push(`${overlay}: ${objectId(obj)} has no namespace`);
      else {
        namespaces.add(ns);
        if (ns !== expected) problems.push(`${overlay}: ${objectId(obj)} is in ${ns}, not ${expected}`);
      }
    }
    for (const ns of namespaces) {
      const other = used.get(ns);
      if (other !== undefined && other !== overlay)
        problems.push(`${[other, overlay].sort().join(' and ')} share namespace ${ns}: the platforms must be apart`);
      used.set(ns, overlay);
    }
    if (!objects.some((o) => o.kind === 'Namespace' && o.metadata.name === expected))
      problems.push(`${overlay}: no Namespace ${expected}`);
    for (const kind of ['ResourceQuota', 'LimitRange']) {
      if (!objects.some((o) => o.kind === kind && o.metadata.namespace === expected))
        problems.push(`${overlay}: no ${kind} in ${expected}`);
    }
  }
  return problems;
}

/** Traefik's RateLimit: the gateway's numbers (RATE_LIMIT_PER_MINUTE per minute, as burst), per client address. */
function rateLimitProblems(overlay: K8sOverlay, objects: readonly K8sObject[]): string[] {
  const problems: string[] = [];
  const limit = loadGatewayConfig({}).rateLimitPerMinute;
  const limits = objects.filter((o) => o.kind === 'Middleware' && (o.spec as { rateLimit?: unknown })?.rateLimit !== undefined);
  if (limits.length === 0) problems.push(`${overlay}: no Traefik Middleware with a rateLimit`);
  for (const obj of limits) {
    const rate = (obj.spec as { rateLimit: Record<string, unknown> }).rateLimit;
    const period = rate.period === undefined ? 1_000 : parseDuration(String(rate.period));
    if (rate.average !== limit || rate.burst !== limit || period !== 60_000)
      problems.push(
        `${objectId(obj)}: rateLimit must be average ${limit}, period 1m, burst ${limit} (the gateway's RATE_LIMIT_PER_MINUTE); ` +
          `it is average ${String(rate.average)}, period ${String(rate.period)}, burst ${String(rate.burst)}`,
      );
    const criterion = rate.sourceCriterion as { ipStrategy?: unknown } | undefined;
    if (criterion?.ipStrategy === undefined)
      problems.push(`${objectId(obj)}: rateLimit needs sourceCriterion.ipStrategy (per client)`);
  }
  return problems;
}

/** The image's stage a container runs (by image name), if the Dockerfile builds it. */
export function stageOf(container: Container, stages: readonly Stage[]): Stage | undefined {
  return stages.find((s) => s.name === IMAGE_STAGES[imageName(container.image ?? '')]);
}

/**
 * The argv a container runtime starts: `command` replaces the image's ENTRYPOINT, `args` its CMD, and a
 * `command` without `args` drops the CMD (Kubernetes' rule).
 */
export function containerArgv(container: Container, stages: readonly Stage[]): string[] {
  const stage = stageOf(container, stages);
  const entrypoint = container.command ?? (stage === undefined ? [] : execForm(stage, 'ENTRYPOINT'));
  const cmd = container.args ?? (container.command !== undefined || stage === undefined ? [] : execForm(stage, 'CMD'));
  return [...entrypoint, ...cmd];
}

/** A container's environment as the process sees it: the image's ENV, then the container's (kubelet's order). */
export function processEnv(
  container: Container,
  stages: readonly Stage[],
  resolved: ReadonlyMap<string, ResolvedEnvVar>,
): Record<string, string> {
  const stage = stageOf(container, stages);
  const env: Record<string, string> = Object.fromEntries(stage === undefined ? [] : stageEnv(stage));
  for (const [key, { value }] of resolved) env[key] = value;
  return env;
}

/**
 * The code's side of each platform Deployment: its real `loadConfig` accepts the container's environment (image ENV,
 * ConfigMaps, literals, the downward API; each `*_FILE` mapped to a placeholder file and required to be a mounted
 * Secret), every variable the container sets is one the code reads, the probes ask routes of the app on its port.
 */
function processProblems(overlay: K8sOverlay, objects: readonly K8sObject[], code: K8sCode, stages: readonly Stage[]): string[] {
  const problems: string[] = [];
  const configMaps = configMapData(objects);
  const sharedKeys = new Map<string, Set<string>>(); // envFrom ConfigMap → keys read by a container importing it
  const readKeys = new Map<string, Set<string>>(); // ConfigMap → keys read by any container given them
  const scratch = mkdtempSync(join(tmpdir(), 'haddock-k8s-policy-'));
  try {
    for (const [deployment, processName] of Object.entries(K8S_DEPLOYMENTS) as [string, K8sProcess][]) {
      const obj = objects.find((o) => o.kind === 'Deployment' && o.metadata.name === deployment);
      if (obj === undefined) {
        problems.push(`${overlay}: Deployment ${deployment} is missing`);
        continue;
      }
      const spec = podSpecOf(obj);
      const container = containersOf(obj).find((c) => c.name === processName);
      if (spec === undefined || container === undefined) {
        problems.push(`${objectId(obj)}: no container ${processName}`);
        continue;
      }
      const where = `${objectId(obj)} container ${processName}`;
      let resolved: Map<string, ResolvedEnvVar>;
      try {
        resolved = envOf(container, configMaps);
      } catch (err) {
        problems.push(`${where}: ${(err as Error).message}`);
        continue;
      }
      const env = processEnv(container, stages, resolved);
      for (const [key, value] of Object.entries(env)) {
        if (!key.endsWith('_FILE') || value === '') continue;
        const secret = secretFileOf(spec, container, value);
        if (secret === undefined) {
          problems.push(`${where}: ${key} names ${value}, which is not a file of a mounted Secret`);
          continue;
        }
        const placeholder = join(scratch, `${overlay}-${processName}-${secret.secret}-${secret.key}`);
        writeFileSync(placeholder, `${'a1'.repeat(24)}\n`);
        env[key] = placeholder;
      }
      for (const [key, variable] of resolved) if (variable.source.kind === 'secret') env[key] = `${'s3'.repeat(12)}`;
      const { recorder, read } = envRecorder(env);
      let settings: ServiceSettings | undefined;
      try {
        settings = K8S_LOADERS[processName](recorder);
      } catch (err) {
        for (const message of errorMessages(err)) problems.push(`${where}: its loadConfig refuses the environment: ${message}`);
      }
      for (const reader of code.otherReaders?.[processName] ?? []) {
        try {
          reader(recorder);
        } catch (err) {
          for (const message of errorMessages(err)) problems.push(`${where}: a reader of its environment refuses it: ${message}`);
        }
      }
      // A shared ConfigMap's key is in use when some container given it (envFrom or configMapKeyRef) reads it.
      for (const from of container.envFrom ?? []) {
        if (from.configMapRef === undefined) continue;
        const keys = sharedKeys.get(from.configMapRef.name) ?? new Set<string>();
        for (const key of Object.keys(configMaps.get(from.configMapRef.name) ?? {}))
          if (read.has(`${from.prefix ?? ''}${key}`)) keys.add(key);
        sharedKeys.set(from.configMapRef.name, keys);
      }
      for (const [key, variable] of resolved) {
        if (variable.source.kind !== 'configMap' || !read.has(key)) continue;
        const keys = readKeys.get(variable.source.name) ?? new Set<string>();
        keys.add(variable.source.key);
        readKeys.set(variable.source.name, keys);
      }
      for (const item of container.env ?? [])
        if (!read.has(item.name) && !RUNTIME_VARIABLES.includes(item.name))
          problems.push(`${where}: ${item.name} is not a variable the code reads`);

      // Probes: a route of this process, on the port its configuration listens on.
      for (const probeName of ['readinessProbe', 'livenessProbe', 'startupProbe'] as const) {
        const probe = container[probeName];
        if (probe === undefined) continue;
        if (probe.httpGet === undefined) {
          problems.push(`${where}: ${probeName} is not an httpGet (the services answer their health over HTTP)`);
          continue;
        }
        const path = probe.httpGet.path ?? '/';
        if (!code.hasRoute(processName, 'GET', path))
          problems.push(`${where}: ${probeName} path ${path} is not a route of ${processName}`);
        const port = resolvePort(container, probe.httpGet.port);
        if (port === undefined) problems.push(`${where}: ${probeName} port ${String(probe.httpGet.port)} is not a declared port`);
        else if (settings !== undefined && port !== settings.port)
          problems.push(`${where}: ${probeName} asks port ${port}, the process listens on ${settings.port}`);
      }
      if (settings !== undefined) {
        const declared = (container.ports ?? []).map((p) => p.containerPort);
        for (const [what, port] of [
          ['port', settings.port],
          ['metrics port', settings.metricsPort],
        ] as const)
          if (!declared.includes(port)) problems.push(`${where}: its ${what} ${port} is not a declared containerPort`);
      }
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  for (const [name, keys] of sharedKeys) {
    for (const key of Object.keys(configMaps.get(name) ?? {}))
      if (!keys.has(key) && !readKeys.get(name)?.has(key) && !RUNTIME_VARIABLES.includes(key))
        problems.push(`${overlay}: ConfigMap ${name} key ${key} is read by no container given it`);
  }
  return problems;
}

/**
 * Every problem of the two rendered overlays against the platform's rules (an empty list when there is none):
 * hardened, sized and probed workloads with pinned images, no secret outside Secrets, the platforms in their own
 * namespaces with quotas, Traefik's rate limit, and the code's agreement (routes, variables).
 */
export function checkPolicy(overlays: Readonly<Record<K8sOverlay, readonly K8sObject[]>>, code: K8sCode): string[] {
  const stages = readStages();
  const problems: string[] = namespaceProblems(overlays);
  for (const overlay of K8S_OVERLAYS) {
    const objects = overlays[overlay];
    for (const obj of objects) {
      if (WORKLOADS.includes(obj.kind)) problems.push(...workloadProblems(obj).map((p) => `${overlay}: ${p}`));
      if (obj.kind === 'ConfigMap') problems.push(...configMapProblems(obj).map((p) => `${overlay}: ${p}`));
    }
    problems.push(...rateLimitProblems(overlay, objects).map((p) => (p.startsWith(overlay) ? p : `${overlay}: ${p}`)));
    problems.push(...processProblems(overlay, objects, code, stages));
  }
  return problems;
}
