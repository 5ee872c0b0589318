import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Env, RedisConfig } from '../../lib/config/index.ts';
import { loadConfig as loadOpsConfig } from '../../services/ops/config.ts';
import { loadConfig as loadQuotesConfig } from '../../services/quotes/config.ts';
import { loadConfig as loadSearchConfig } from '../../services/search/config.ts';
import { loadConfig as loadUsersConfig } from '../../services/users/config.ts';
import { loadConfig as loadGatewayConfig } from '../gateway/config.ts';
import {
  type Container,
  configMapData,
  containersOf,
  envValuesOf,
  type K8sObject,
  objectId,
  objectsOf,
  podLabelsOf,
  podSpecOf,
  resolvePort,
  WORKLOAD_KINDS,
} from './k8s-render.ts';

/*
 * The NetworkPolicy check: every connection the platform makes, listed from the rendered configuration (each
 * program's own loadConfig over its container's environment, the ServiceMonitors, IngressRoutes,
 * AlertmanagerConfig, RoleBindings and the Sentinel configuration), each proved allowed by an egress policy of
 * its source and an ingress policy of its destination, as Kubernetes evaluates them. Kubelet probes come from the
 * node and are not subject to NetworkPolicy: none is listed.
 */

type Labels = Readonly<Record<string, string>>;

/** Pods outside the platform's namespace, by namespace and labels (the policies name them the same way). */
export interface OutsidePods {
  readonly namespace: string;
  readonly labels: Labels;
}

/** Who the platform's peers outside its namespace are: the policies' assumptions, also the check's. */
export interface NetworkParams {
  /** Traefik's pods (the Helm chart's label; namespace `traefik` by default). */
  readonly traefik: OutsidePods;
  /** Prometheus's pods (the Prometheus Operator's label). The namespace comes from PROMETHEUS_URL when set. */
  readonly prometheus: OutsidePods;
  /** Alertmanager's pods (the Prometheus Operator's label). */
  readonly alertmanager: OutsidePods;
  /** The cluster DNS (CoreDNS keeps kube-dns's label). */
  readonly dns: OutsidePods;
}

export const DEFAULT_NETWORK_PARAMS: NetworkParams = {
  traefik: { namespace: 'traefik', labels: { 'app.kubernetes.io/name': 'traefik' } },
  prometheus: { namespace: 'monitoring', labels: { 'app.kubernetes.io/name': 'prometheus' } },
  alertmanager: { namespace: 'monitoring', labels: { 'app.kubernetes.io/name': 'alertmanager' } },
  dns: { namespace: 'kube-system', labels: { 'k8s-app': 'kube-dns' } },
};

/** The Kubernetes API server's ports: 443 through the `kubernetes` Service, 6443 after its DNAT on kubeadm-style clusters. */
export const API_SERVER_PORTS: readonly number[] = [443, 6443];

/** One end of a connection: pods (rendered here or outside the namespace) or the API server. */
export type Peer =
  | {
      readonly kind: 'pods';
      readonly name: string;
      readonly namespace: string;
      readonly labels: Labels;
      /** The pods' containers when rendered here (named ports resolve against them); undefined outside. */
      readonly containers?: readonly Container[];
    }
  | { readonly kind: 'api-server'; readonly name: string };

export interface Connection {
  readonly from: Peer;
  readonly to: Peer;
  readonly port: number;
  readonly protocol: 'TCP' | 'UDP';
  /** Where it comes from: `USERS_URL of gateway`, `ServiceMonitor/haddock-users`, … */
  readonly why: string;
}

/** What a program will dial: URLs by the variable they came from, and its Redis configuration. */
export interface Dials {
  readonly urls: Readonly<Record<string, string | undefined>>;
  readonly redis?: RedisConfig;
}

/** Reads a container's environment as one program does and says what it will dial (throws on a refused environment). */
export type DialReader = (env: Env) => Dials;

/** The programs of each container of the platform, by container name (the contract's names). */
export const PROGRAMS: Readonly<Record<string, readonly DialReader[]>> = {
  users: [(env) => ({ urls: {}, redis: loadUsersConfig(env).redis })],
  quotes: [(env) => ({ urls: {}, redis: loadQuotesConfig(env).redis })],
  search: [(env) => ({ urls: {}, redis: loadSearchConfig(env).redis })],
  ops: [
    (env) => {
      const config = loadOpsConfig(env);
      return { urls: { PROMETHEUS_URL: config.prometheusUrl }, redis: config.redis };
    },
  ],
  gateway: [
    (env) => {
      const { upstreams } = loadGatewayConfig(env);
      return {
        urls: { USERS_URL: upstreams.users, QUOTES_URL: upstreams.quotes, SEARCH_URL: upstreams.search, OPS_URL: upstreams.ops },
      };
    },
  ],
};

export interface NetworkCheckOptions {
  readonly params?: NetworkParams;
  /** Other programs reading a container's environment (the haddock CLI in the ops container), by container name. */
  readonly otherReaders?: Readonly<Record<string, readonly DialReader[]>>;
}

export interface NetworkReport {
  readonly connections: readonly Connection[];
  /** Connections refused by a policy, connections that could not be resolved, pods left unisolated. */
  readonly problems: readonly string[];
  /** Policy rules (rule, peer, port) that allow none of the connections: openings the platform does not need. */
  readonly unused: readonly string[];
}

interface Selector {
  readonly matchLabels?: Labels;
  readonly matchExpressions?: readonly { readonly key: string; readonly operator: string; readonly values?: readonly string[] }[];
}

interface PolicyPort {
  readonly protocol?: string;
  readonly port?: number | string;
  readonly endPort?: number;
}

interface PolicyPeer {
  readonly podSelector?: Selector;
  readonly namespaceSelector?: Selector;
  readonly ipBlock?: { readonly cidr: string; readonly except?: readonly string[] };
}

interface PolicyRule {
  readonly from?: readonly PolicyPeer[];
  readonly to?: readonly PolicyPeer[];
  readonly ports?: readonly PolicyPort[];
}

interface Policy {
  readonly name: string;
  readonly namespace: string;
  readonly podSelector: Selector;
  readonly types: readonly ('Ingress' | 'Egress')[];
  readonly ingress: readonly PolicyRule[];
  readonly egress: readonly PolicyRule[];
}

/** Whether a label selector matches labels (an empty selector matches everything), as the API server decides. */
export function selectorMatches(selector: Selector | undefined, labels: Labels): boolean {
  if (selector === undefined) return true;
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) if (labels[key] !== value) return false;
  for (const { key, operator, values = [] } of selector.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, key);
    const ok =
      operator === 'In'
        ? has && values.includes(labels[key] as string)
        : operator === 'NotIn'
          ? !has || !values.includes(labels[key] as string)
          : operator === 'Exists'
            ? has
            : operator === 'DoesNotExist'
              ? !has
              : false;
    if (!ok) return false;
  }
  return true;
}

function policiesOf(objects: readonly K8sObject[], namespace: string): Policy[] {
  return objectsOf(objects, 'NetworkPolicy').map((obj) => {
    const spec = (obj.spec ?? {}) as {
      podSelector?: Selector;
      policyTypes?: ('Ingress' | 'Egress')[];
      ingress?: PolicyRule[];
      egress?: PolicyRule[];
    };
    // Without policyTypes, Kubernetes takes Ingress always and Egress when there are egress rules.
    const types = spec.policyTypes ?? ['Ingress', ...(spec.egress === undefined ? [] : (['Egress'] as const))];
    return {
      name: obj.metadata.name,
      namespace: obj.metadata.namespace ?? namespace,
      podSelector: spec.podSelector ?? {},
      types,
      ingress: spec.ingress ?? [],
      egress: spec.egress ?? [],
    };
  });
}

/** A namespace's labels as the API server sets them (`kubernetes.io/metadata.name`) plus the rendered ones. */
function namespaceLabels(objects: readonly K8sObject[], name: string): Labels {
  const rendered = objectsOf(objects, 'Namespace').find((ns) => ns.metadata.name === name);
  return { ...(rendered?.metadata.labels ?? {}), 'kubernetes.io/metadata.name': name };
}

function peerMatches(peer: PolicyPeer, policy: Policy, other: Peer, objects: readonly K8sObject[]): boolean {
  // Pod IPs are not known before a cluster runs them: an ipBlock is taken to match only the API server.
  if (peer.ipBlock !== undefined) return other.kind === 'api-server';
  if (other.kind !== 'pods') return false;
  if (peer.namespaceSelector === undefined) {
    if (other.namespace !== policy.namespace) return false;
  } else if (!selectorMatches(peer.namespaceSelector, namespaceLabels(objects, other.namespace))) return false;
  return selectorMatches(peer.podSelector, other.labels);
}

function portMatches(entry: PolicyPort, connection: Connection): boolean {
  if ((entry.protocol ?? 'TCP') !== connection.protocol) return false;
  if (entry.port === undefined) return true;
  let port: number | undefined;
  if (typeof entry.port === 'number' || /^\d+$/.test(entry.port)) port = Number(entry.port);
  else {
    // A named port is the destination pod's, for ingress and egress alike.
    const to = connection.to;
    const named =
      to.kind === 'pods' ? (to.containers ?? []).flatMap((c) => c.ports ?? []).find((p) => p.name === entry.port) : undefined;
    if (named === undefined || (named.protocol ?? 'TCP') !== connection.protocol) return false;
    port = named.containerPort;
  }
  return entry.endPort === undefined ? connection.port === port : connection.port >= port && connection.port <= entry.endPort;
}

function ruleAllows(
  rule: PolicyRule,
  direction: 'Ingress' | 'Egress',
  policy: Policy,
  c: Connection,
  objects: readonly K8sObject[],
) {
  const peers = direction === 'Ingress' ? rule.from : rule.to;
  const other = direction === 'Ingress' ? c.from : c.to;
  const peerOk = peers === undefined || peers.length === 0 || peers.some((peer) => peerMatches(peer, policy, other, objects));
  const portOk = rule.ports === undefined || rule.ports.length === 0 || rule.ports.some((entry) => portMatches(entry, c));
  return peerOk && portOk;
}

/** The policies of a direction selecting a peer of the namespace (empty: the peer is not isolated that way). */
function isolating(policies: readonly Policy[], direction: 'Ingress' | 'Egress', peer: Peer, namespace: string): Policy[] {
  if (peer.kind !== 'pods' || peer.namespace !== namespace) return [];
  return policies.filter(
    (p) => p.namespace === namespace && p.types.includes(direction) && selectorMatches(p.podSelector, peer.labels),
  );
}

/** Whether one side lets a connection through: not isolated, or some rule of a selecting policy allows it. */
function sideAllows(
  policies: readonly Policy[],
  direction: 'Ingress' | 'Egress',
  c: Connection,
  namespace: string,
  objects: readonly K8sObject[],
): boolean {
  const self = direction === 'Ingress' ? c.to : c.from;
  const selecting = isolating(policies, direction, self, namespace);
  if (selecting.length === 0) return true;
  return selecting.some((policy) =>
    (direction === 'Ingress' ? policy.ingress : policy.egress).some((rule) => ruleAllows(rule, direction, policy, c, objects)),
  );
}

function describePeer(peer: Peer): string {
  if (peer.kind === 'api-server') return peer.name;
  const app = peer.labels['app.kubernetes.io/name'];
  const labels =
    app === undefined
      ? Object.entries(peer.labels)
          .map(([k, v]) => `${k}=${v}`)
          .join(',')
      : `app.kubernetes.io/name=${app}`;
  return `${peer.name} (${peer.namespace}, ${labels})`;
}

export function describeConnection(c: Connection): string {
  return `${describePeer(c.from)} → ${describePeer(c.to)} port ${c.port}/${c.protocol} [${c.why}]`;
}

interface Workload {
  readonly obj: K8sObject;
  readonly name: string;
  readonly labels: Labels;
  readonly containers: readonly Container[];
}

function workloadsOf(objects: readonly K8sObject[]): Workload[] {
  return objects
    .filter((o) => (WORKLOAD_KINDS as readonly string[]).includes(o.kind))
    .map((obj) => ({ obj, name: objectId(obj), labels: podLabelsOf(obj), containers: containersOf(obj, { init: true }) }));
}

function podsPeer(w: Workload, namespace: string): Peer {
  return { kind: 'pods', name: w.obj.metadata.name, namespace, labels: w.labels, containers: w.containers };
}

function outsidePeer(name: string, pods: OutsidePods): Peer {
  return { kind: 'pods', name, namespace: pods.namespace, labels: pods.labels };
}

/** `redis://redis:6379`, `http://a.b.svc:9090/x`: host and port (the scheme's default when absent). */
function hostPort(url: string): { host: string; port: number } | undefined {
  try {
    const parsed = new URL(url);
    const defaults: Record<string, number> = { 'http:': 80, 'https:': 443, 'redis:': 6379, 'rediss:': 6379 };
    const port = parsed.port === '' ? defaults[parsed.protocol] : Number(parsed.port);
    if (port === undefined || parsed.hostname === '') return undefined;
    return { host: parsed.hostname.replace(/^\[(.*)\]$/, '$1'), port };
  } catch {
    return undefined;
  }
}

const LOOPBACK = /^(localhost|127\.\d+\.\d+\.\d+|::1)$/;

class Resolver {
  readonly problems: string[] = [];

  constructor(
    private readonly objects: readonly K8sObject[],
    private readonly workloads: readonly Workload[],
    readonly namespace: string,
  ) {}

  /** The pods of the namespace a Service's selector picks. */
  private servicePods(service: K8sObject): Workload[] {
    const selector = (service.spec as { selector?: Labels } | undefined)?.selector;
    if (selector === undefined || Object.keys(selector).length === 0) return [];
    return this.workloads.filter((w) => selectorMatches({ matchLabels: selector }, w.labels));
  }

  service(name: string): K8sObject | undefined {
    return objectsOf(this.objects, 'Service').find((s) => s.metadata.name === name);
  }

  /**
   * The pods and port a Service's port (by number or name) reaches: its targetPort on each selected pod.
   * Problems (no such Service, no pod, no such port) are recorded with `why`.
   */
  viaService(serviceName: string, port: number | string, why: string): { peer: Peer; port: number }[] {
    const service = this.service(serviceName);
    if (service === undefined) {
      this.problems.push(`${why}: no Service ${serviceName} is rendered in ${this.namespace}`);
      return [];
    }
    const ports = ((service.spec as { ports?: { name?: string; port: number; targetPort?: number | string }[] })?.ports ??
      []) as { name?: string; port: number; targetPort?: number | string }[];
    const servicePort = ports.find((p) => (typeof port === 'number' ? p.port === port : p.name === port));
    if (servicePort === undefined) {
      this.problems.push(`${why}: Service ${serviceName} has no port ${port}`);
      return [];
    }
    const pods = this.servicePods(service);
    if (pods.length === 0) this.problems.push(`${why}: Service ${serviceName} selects no rendered pod`);
    const out: { peer: Peer; port: number }[] = [];
    for (const w of pods) {
      const target = servicePort.targetPort ?? servicePort.port;
      const resolved = w.containers.map((c) => resolvePort(c, target)).find((p) => p !== undefined);
      if (resolved === undefined) {
        this.problems.push(`${why}: Service ${serviceName} targets port ${target}, which ${w.name} does not declare`);
        continue;
      }
      out.push({ peer: podsPeer(w, this.namespace), port: resolved });
    }
    return out;
  }

  /**
   * Where a host name leads: a Service of the namespace (`name`, `name.<ns>[.svc[.cluster.local]]`), a pod of a
   * headless Service (`pod.service`), or a Service of another namespace (undefined, with that namespace).
   */
  host(host: string, port: number, why: string): { peer: Peer; port: number }[] | { outside: string } {
    const parts = host.replace(/\.svc(\.cluster\.local)?\.?$/, '').split('.');
    const [first, second] = parts;
    if (first === undefined) return [];
    if (parts.length === 1 || (parts.length === 2 && second === this.namespace)) return this.viaService(first, port, why);
    if (parts.length === 2 && second !== undefined) {
      const headless = this.service(second);
      if (headless !== undefined && (headless.spec as { clusterIP?: string }).clusterIP === 'None') {
        // A StatefulSet pod's own name: any pod of the StatefulSet governed by that Service.
        const set = this.workloads.find(
          (w) => w.obj.kind === 'StatefulSet' && (w.obj.spec as { serviceName?: string }).serviceName === second,
        );
        if (set === undefined || !first.startsWith(`${set.obj.metadata.name}-`)) {
          this.problems.push(`${why}: ${host} names no pod of a StatefulSet governed by Service ${second}`);
          return [];
        }
        return this.viaService(second, port, why);
      }
      return { outside: second };
    }
    return { outside: parts[1] ?? '' };
  }
}

/** Every `scheme://host[:port]` in a string (a container's other programs: curl in a CronJob, …). */
function urlsIn(text: string): string[] {
  return [...text.matchAll(/\b(?:https?|rediss?):\/\/[^\s"'`<>]+/g)].map((m) => m[0]);
}

/** Replaces each *_FILE value with a placeholder file, so a loader reading the mounted secret can run here. */
function withPlaceholderFiles(env: Record<string, string>, scratch: string): Record<string, string> {
  const out = { ...env };
  for (const [key, value] of Object.entries(env)) {
    if (!key.endsWith('_FILE') || value === '') continue;
    const path = join(scratch, key);
    writeFileSync(path, `${'a1'.repeat(24)}\n`);
    out[key] = path;
  }
  return out;
}

/** The master name and monitored address of each rendered Sentinel configuration (`sentinel monitor …`). */
function sentinelMonitors(objects: readonly K8sObject[]): { configMap: string; master: string; host: string; port: number }[] {
  const out: { configMap: string; master: string; host: string; port: number }[] = [];
  for (const cm of objectsOf(objects, 'ConfigMap')) {
    for (const text of Object.values((cm.data ?? {}) as Record<string, string>)) {
      for (const m of String(text).matchAll(/^\s*sentinel\s+monitor\s+(\S+)\s+(\S+)\s+(\d+)\s+\d+\s*$/gm)) {
        out.push({ configMap: cm.metadata.name, master: m[1] as string, host: m[2] as string, port: Number(m[3]) });
      }
    }
  }
  return out;
}

/**
 * Lists every connection the rendered platform makes (namespace `namespace`) and checks each against the
 * rendered NetworkPolicies at both ends; connections from or to pods outside the namespace are checked on the
 * namespace's side only (the other namespace's policies are not rendered here).
 */
export function checkNetwork(objects: readonly K8sObject[], namespace: string, options: NetworkCheckOptions = {}): NetworkReport {
  const params = options.params ?? DEFAULT_NETWORK_PARAMS;
  const workloads = workloadsOf(objects);
  const resolver = new Resolver(objects, workloads, namespace);
  const problems = resolver.problems;
  const connections: Connection[] = [];
  const configMaps = configMapData(objects);
  const monitors = sentinelMonitors(objects);
  const scratch = mkdtempSync(join(tmpdir(), 'haddock-k8s-network-'));

  const seen = new Set<string>();
  const add = (from: Peer, targets: readonly { peer: Peer; port: number }[], why: string, protocol: 'TCP' | 'UDP' = 'TCP') => {
    for (const t of targets) {
      const key = `${describePeer(from)}|${describePeer(t.peer)}|${t.port}|${protocol}|${why}`;
      if (seen.has(key)) continue;
      seen.add(key);
      connections.push({ from, to: t.peer, port: t.port, protocol, why });
    }
  };

  /** A URL a program dials: resolved in the namespace, or to the known outside peers by its variable. */
  const dialUrl = (from: Peer, variable: string, url: string, why: string) => {
    const address = hostPort(url);
    if (address === undefined) {
      problems.push(`${why}: ${variable}=${url} is not an address`);
      return;
    }
    if (LOOPBACK.test(address.host)) return; // inside the pod: no policy involved
    const found = resolver.host(address.host, address.port, why);
    if (Array.isArray(found)) return add(from, found, why);
    const outside =
      variable === 'PROMETHEUS_URL' ? params.prometheus : variable === 'ALERTMANAGER_URL' ? params.alertmanager : undefined;
    if (outside === undefined) {
      problems.push(`${why}: ${variable}=${url} leads outside the namespace to no known peer`);
      return;
    }
    // The Operator's Services (prometheus-operated, kube-prometheus-stack-*) map their port to the same pod port.
    add(from, [{ peer: outsidePeer(variable, { namespace: found.outside, labels: outside.labels }), port: address.port }], why);
  };

  const dialRedis = (from: Peer, redis: RedisConfig, why: string) => {
    if (redis.mode === 'url') return dialUrl(from, 'REDIS_URL', redis.url, `REDIS_URL of ${why}`);
    for (const sentinel of redis.sentinels) {
      if (LOOPBACK.test(sentinel.host)) continue;
      const found = resolver.host(sentinel.host, sentinel.port, `REDIS_SENTINELS of ${why}`);
      if (Array.isArray(found)) add(from, found, `REDIS_SENTINELS of ${why}`);
      else problems.push(`REDIS_SENTINELS of ${why}: ${sentinel.host} is outside the namespace`);
    }
    // Then the primary the Sentinels announce: the address their configuration monitors under this master name.
    const monitor = monitors.find((m) => m.master === redis.masterName);
    if (monitor === undefined) {
      problems.push(`${why}: no rendered Sentinel configuration monitors master "${redis.masterName}" (REDIS_MASTER_NAME)`);
      return;
    }
    const primary = resolver.host(monitor.host, monitor.port, `primary of "${redis.masterName}" for ${why}`);
    if (Array.isArray(primary)) add(from, primary, `the primary of "${redis.masterName}" (via Sentinel) for ${why}`);
  };

  try {
    for (const w of workloads) {
      const from = podsPeer(w, namespace);
      // Every pod resolves names.
      for (const protocol of ['UDP', 'TCP'] as const) {
        add(from, [{ peer: outsidePeer('dns', params.dns), port: 53 }], `DNS of ${w.name}`, protocol);
      }
      for (const container of w.containers) {
        let env: Record<string, string>;
        try {
          env = envValuesOf(container, configMaps);
        } catch (err) {
          problems.push(`${w.name}: ${(err as Error).message}`);
          continue;
        }
        const readers = [...(PROGRAMS[container.name] ?? []), ...(options.otherReaders?.[container.name] ?? [])];
        if (readers.length > 0) {
          const placeholderEnv = withPlaceholderFiles(env, scratch);
          for (const read of readers) {
            let dials: Dials;
            try {
              dials = read(placeholderEnv);
            } catch (err) {
              problems.push(`${w.name} container ${container.name}: its configuration is refused: ${(err as Error).message}`);
              continue;
            }
            for (const [variable, url] of Object.entries(dials.urls)) {
              if (url !== undefined) dialUrl(from, variable, url, `${variable} of ${w.name}`);
            }
            if (dials.redis !== undefined) dialRedis(from, dials.redis, w.name);
          }
        } else {
          // Not one of the platform's programs (a CronJob's client, …): every URL in its command and args ($(VAR)
          // expanded) and in the variables it names one by one; a whole ConfigMap taken with envFrom says nothing
          // of which of its addresses the program uses.
          const named = new Set((container.env ?? []).map((e) => e.name));
          const expand = (arg: string) =>
            arg.replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (whole, name: string) => env[name] ?? whole);
          const texts = [
            ...Object.entries(env).filter(([key]) => named.has(key)),
            ...[...(container.command ?? []), ...(container.args ?? [])].map((a) => ['args', expand(a)]),
          ];
          for (const [where, text] of texts) {
            for (const url of urlsIn(String(text)))
              dialUrl(from, String(where), url, `${where} of ${w.name} (${container.name})`);
          }
        }
      }
      // A workload whose ServiceAccount is bound to a Role reads the Kubernetes API.
      const spec = podSpecOf(w.obj);
      const account = (spec?.serviceAccountName as string | undefined) ?? 'default';
      const bound = [...objectsOf(objects, 'RoleBinding'), ...objectsOf(objects, 'ClusterRoleBinding')].some((b) =>
        ((b.subjects ?? []) as { kind: string; name: string; namespace?: string }[]).some(
          (s) => s.kind === 'ServiceAccount' && s.name === account && (s.namespace ?? namespace) === namespace,
        ),
      );
      if (bound && spec?.automountServiceAccountToken !== false) {
        for (const port of API_SERVER_PORTS) {
          connections.push({
            from,
            to: { kind: 'api-server', name: 'the Kubernetes API server' },
            port,
            protocol: 'TCP',
            why: `ServiceAccount ${account} of ${w.name} is bound to a Role`,
          });
        }
      }
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }

  // Prometheus scrapes each ServiceMonitor's endpoints (Services of this namespace).
  for (const sm of objectsOf(objects, 'ServiceMonitor')) {
    const spec = (sm.spec ?? {}) as { selector?: Selector; endpoints?: { port?: string; targetPort?: number | string }[] };
    const services = objectsOf(objects, 'Service').filter((s) => selectorMatches(spec.selector, s.metadata.labels ?? {}));
    if (services.length === 0) problems.push(`${objectId(sm)}: its selector matches no rendered Service`);
    for (const service of services) {
      for (const endpoint of spec.endpoints ?? []) {
        const port = endpoint.port ?? endpoint.targetPort;
        if (port === undefined) continue;
        add(
          outsidePeer('prometheus', params.prometheus),
          resolver.viaService(service.metadata.name, port, objectId(sm)),
          objectId(sm),
        );
      }
    }
  }

  // Traefik routes to each IngressRoute's Services.
  for (const route of objectsOf(objects, 'IngressRoute')) {
    const routes = ((route.spec as { routes?: unknown[] } | undefined)?.routes ?? []) as {
      services?: { name: string; port?: number | string; kind?: string; namespace?: string }[];
    }[];
    const routed = new Set<string>();
    for (const r of routes) {
      for (const s of r.services ?? []) {
        if ((s.kind ?? 'Service') !== 'Service' || s.port === undefined || routed.has(`${s.name}:${s.port}`)) continue;
        routed.add(`${s.name}:${s.port}`);
        add(outsidePeer('traefik', params.traefik), resolver.viaService(s.name, s.port, objectId(route)), objectId(route));
      }
    }
  }

  // Alertmanager calls the ops webhook(s) its AlertmanagerConfig names; without one, the documented address.
  const amConfigs = objectsOf(objects, 'AlertmanagerConfig');
  const alertmanager = outsidePeer('alertmanager', params.alertmanager);
  for (const am of amConfigs) {
    const receivers = ((am.spec as { receivers?: unknown[] } | undefined)?.receivers ?? []) as {
      webhookConfigs?: { url?: string; urlSecret?: unknown }[];
    }[];
    for (const hook of receivers.flatMap((r) => r.webhookConfigs ?? [])) {
      if (hook.url === undefined) continue;
      const address = hostPort(hook.url);
      const found = address === undefined ? undefined : resolver.host(address.host, address.port, objectId(am));
      if (Array.isArray(found)) add(alertmanager, found, `webhook of ${objectId(am)}`);
      else problems.push(`${objectId(am)}: webhook ${hook.url} does not lead to a Service of ${namespace}`);
    }
  }
  if (amConfigs.length === 0)
    add(
      alertmanager,
      resolver.viaService('haddock-ops', 'http', 'the alert webhook'),
      'the alert webhook (no AlertmanagerConfig rendered)',
    );

  // Under Sentinel: the Sentinels watch every Redis and talk to each other, replicas sync from the primary, and
  // a Redis pod asks the Sentinels at start which pod is primary (components/redis-sentinel).
  for (const monitor of monitors) {
    const why = `sentinel monitor ${monitor.master} in ConfigMap ${monitor.configMap}`;
    const sentinels = workloads.filter((w) =>
      w.containers.some((c) => [...(c.command ?? []), ...(c.args ?? [])].some((a) => /--sentinel\b/.test(a))),
    );
    const redis = resolver.host(monitor.host, monitor.port, why);
    if (!Array.isArray(redis)) {
      problems.push(`${why}: ${monitor.host} is outside the namespace`);
      continue;
    }
    if (sentinels.length === 0) problems.push(`${why}: no workload runs redis-server --sentinel`);
    const sentinelTargets = sentinels.flatMap((s) =>
      s.containers.flatMap((c) => (c.ports ?? []).map((p) => ({ peer: podsPeer(s, namespace), port: p.containerPort }))),
    );
    for (const s of sentinels) {
      add(podsPeer(s, namespace), redis, `${why} (monitoring)`);
      add(podsPeer(s, namespace), sentinelTargets, `${why} (Sentinels' votes)`);
    }
    for (const r of redis) {
      add(r.peer, redis, `${why} (replication from the primary)`);
      add(r.peer, sentinelTargets, `${why} (a Redis pod asks the Sentinels for the primary at start)`);
    }
  }

  // Check each connection at both ends.
  const policies = policiesOf(objects, namespace);
  for (const c of connections) {
    if (!sideAllows(policies, 'Egress', c, namespace, objects)) {
      problems.push(`${describeConnection(c)}: no egress rule of the source's policies allows it`);
    }
    if (!sideAllows(policies, 'Ingress', c, namespace, objects)) {
      problems.push(`${describeConnection(c)}: no ingress rule of the destination's policies allows it`);
    }
  }

  // Default deny: every pod of the namespace is isolated both ways.
  for (const w of workloads) {
    for (const direction of ['Ingress', 'Egress'] as const) {
      if (isolating(policies, direction, podsPeer(w, namespace), namespace).length === 0) {
        problems.push(`${w.name}: no NetworkPolicy isolates its ${direction.toLowerCase()} (default deny missing)`);
      }
    }
  }

  return { connections, problems: [...new Set(problems)], unused: unusedRules(policies, connections, namespace, objects) };
}

/** Each (policy, direction, rule, peer, port) that lets none of the connections through. */
function unusedRules(
  policies: readonly Policy[],
  connections: readonly Connection[],
  namespace: string,
  objects: readonly K8sObject[],
) {
  const unused: string[] = [];
  for (const policy of policies) {
    for (const direction of ['Ingress', 'Egress'] as const) {
      if (!policy.types.includes(direction)) continue;
      const rules = direction === 'Ingress' ? policy.ingress : policy.egress;
      const relevant = connections.filter((c) => {
        const self = direction === 'Ingress' ? c.to : c.from;
        return self.kind === 'pods' && self.namespace === namespace && selectorMatches(policy.podSelector, self.labels);
      });
      for (const [i, rule] of rules.entries()) {
        const peers = (direction === 'Ingress' ? rule.from : rule.to) ?? [];
        const ports = rule.ports ?? [];
        for (const [j, peer] of (peers.length === 0 ? [undefined] : peers).entries()) {
          for (const port of ports.length === 0 ? [undefined] : ports) {
            const narrowed: PolicyRule = {
              [direction === 'Ingress' ? 'from' : 'to']: peer === undefined ? [] : [peer],
              ports: port === undefined ? [] : [port],
            };
            if (!relevant.some((c) => ruleAllows(narrowed, direction, policy, c, objects))) {
              const portText = port === undefined ? 'any port' : `port ${port.port ?? 'any'}/${port.protocol ?? 'TCP'}`;
              unused.push(
                `NetworkPolicy/${policy.name} ${direction.toLowerCase()} rule ${i} peer ${peer === undefined ? 'any' : j} ${portText}: allows no connection the platform makes`,
              );
            }
          }
        }
      }
    }
  }
  return unused;
}
