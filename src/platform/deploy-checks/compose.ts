import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { isScalar, parse, parseDocument, visit } from 'yaml';
import { ConfigError, type Env } from '../../lib/config/index.ts';
import { loadConfig as loadOpsConfig } from '../../services/ops/config.ts';
import { loadConfig as loadQuotesConfig } from '../../services/quotes/config.ts';
import { loadConfig as loadSearchConfig } from '../../services/search/config.ts';
import { loadConfig as loadUsersConfig } from '../../services/users/config.ts';
import { loadConfig as loadGatewayConfig } from '../gateway/config.ts';
import { parseDuration } from '../monitoring-config/duration.ts';
import { REPOSITORY_ROOT, RULES_DIR, renderAlertmanagerConfig, renderPrometheusConfig } from '../monitoring-config/index.ts';
import { parseStages, type Stage, stageEnv, unpinnedReason } from './dockerfile.ts';
import { gatewayParityProblems, parseTraefikRule, type Router, type RuleNode } from './traefik-rules.ts';

/** The compose stack's folder, relative to the repository root. */
export const COMPOSE_DIR = 'deploy/compose';

/** The platform's services as compose names them, each built from the repository's Dockerfile. */
export const COMPOSE_SERVICES = ['users', 'quotes', 'search', 'ops'] as const;
export type ComposeService = (typeof COMPOSE_SERVICES)[number];

/** What a service's configuration says about where it listens and what it is allowed. */
export interface ServiceSettings {
  readonly port: number;
  readonly metricsPort: number;
  readonly memoryLimitBytes: number | undefined;
  readonly cpuLimitCores: number | undefined;
}

/** Each service's real `loadConfig` (src/services/<name>/config.ts). */
export const LOADERS: Readonly<Record<ComposeService, (env: Env) => ServiceSettings>> = {
  users: loadUsersConfig,
  quotes: loadQuotesConfig,
  search: loadSearchConfig,
  ops: loadOpsConfig,
};

/** Variables a container reads that no `loadConfig` does: Node's and the C library's own. */
export const RUNTIME_VARIABLES: readonly string[] = ['TMPDIR', 'TZ', 'NODE_OPTIONS'];

/** Names that hold a secret: never a literal in compose.yaml. */
export const SECRET_NAME = /(PASSWORD|TOKEN|KEY|SECRET)$/;

/** Where the platform's webhook lives on the ops service (Alertmanager's receiver). */
export const OPS_ALERTS_PATH = '/ops/alerts';
/** The secret holding the webhook's bearer token, as Alertmanager reads it. */
export const ALERT_TOKEN_SECRET = 'alert_webhook_token';

/** What only the code's entry points know, handed in by the caller (the linter keeps src/platform from importing them). */
export interface ComposeCode {
  /** Whether a service's app serves a route (its real route table: `buildApp(…).hasRoute`). */
  readonly hasRoute: (service: ComposeService, method: string, url: string) => boolean;
  /** Other programs reading a container's environment: the haddock CLI in the ops container. */
  readonly otherReaders?: Partial<Record<ComposeService, readonly ((env: Env) => unknown)[]>>;
}

/** The files of the stack, as text (a test may replace one). */
export interface ComposeFiles {
  readonly compose: string;
  readonly envExample: string;
  readonly traefikDynamic: string;
  readonly prometheus: string;
  readonly alertmanager: string;
  readonly redisConf: string;
  readonly dockerfile: string;
  readonly packageVersion: string;
}

/** Reads the stack's files from a repository laid out like this one. */
export function readComposeFiles(root: string = REPOSITORY_ROOT): ComposeFiles {
  const dir = join(root, COMPOSE_DIR);
  const read = (path: string) => readFileSync(path, 'utf8');
  const dockerfile = join(root, 'Dockerfile');
  return {
    compose: read(join(dir, 'compose.yaml')),
    envExample: read(join(dir, '.env.example')),
    traefikDynamic: read(join(dir, 'traefik', 'dynamic.yml')),
    prometheus: read(join(dir, 'prometheus', 'prometheus.yml')),
    alertmanager: read(join(dir, 'alertmanager', 'alertmanager.yml')),
    redisConf: read(join(dir, 'redis', 'redis.conf')),
    dockerfile: existsSync(dockerfile) ? read(dockerfile) : '',
    packageVersion: String((JSON.parse(read(join(root, 'package.json'))) as { version?: unknown }).version),
  };
}

/** The Prometheus configuration of the stack: every service's metrics listener by compose name, the project's rules. */
export function renderComposePrometheusConfig(): string {
  const metricsPorts: Record<ComposeService, number> = { users: 8011, quotes: 8012, search: 8013, ops: 8014 };
  return renderPrometheusConfig({
    scrapeInterval: '15s',
    evaluationInterval: '15s',
    namespace: 'haddock',
    targets: COMPOSE_SERVICES.map((service) => ({ job: `haddock-${service}`, address: `${service}:${metricsPorts[service]}` })),
    ruleFiles: committedRuleFiles().map((file) => `/etc/prometheus/rules/${basename(file)}`),
    alertmanagerUrl: 'http://alertmanager:9093',
  });
}

/**
 * The Alertmanager configuration of the stack: the renderer's, with no channel, every alert to the ops service,
 * the bearer token read from the secret file (`credentials_file`) rather than written in the file.
 */
export function renderComposeAlertmanagerConfig(): string {
  const placeholder = 'TOKEN-FROM-SECRET-FILE';
  const text = renderAlertmanagerConfig(
    {},
    { defaultWebhookUrl: `http://ops:8004${OPS_ALERTS_PATH}`, defaultWebhookToken: placeholder },
  );
  const doc = parseDocument(text);
  visit(doc, {
    Pair(_, pair) {
      if (isScalar(pair.key) && pair.key.value === 'credentials' && isScalar(pair.value) && pair.value.value === placeholder) {
        pair.key.value = 'credentials_file';
        pair.value.value = `/run/secrets/${ALERT_TOKEN_SECRET}`;
      }
    },
  });
  return doc.toString({ lineWidth: 0 });
}

/** The committed rule files (monitoring/prometheus/rules/*.yml), sorted, as absolute paths. */
function committedRuleFiles(): string[] {
  return readdirSync(RULES_DIR)
    .filter((name) => /\.ya?ml$/.test(name))
    .sort()
    .map((name) => join(RULES_DIR, name));
}

type Json = Record<string, unknown>;

function asMap(value: unknown): Json | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Json) : undefined;
}

function asList(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

/** Compose's merge of an override file: maps merged key by key, anything else replaced. */
export function mergeOverride(base: unknown, override: unknown): unknown {
  const a = asMap(base);
  const b = asMap(override);
  if (a === undefined || b === undefined) return override;
  const merged: Json = { ...a };
  for (const [key, value] of Object.entries(b)) merged[key] = key in a ? mergeOverride(a[key], value) : value;
  return merged;
}

/** `KEY=value` lines of a .env file (comments and blank lines skipped, surrounding quotes removed). */
export function parseDotEnv(text: string): Map<string, string> {
  const vars = new Map<string, string>();
  for (const line of text.split(/\r?\n/)) {
    const match = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(line);
    if (match?.[1] === undefined || line.trim().startsWith('#')) continue;
    let value = (match[2] ?? '').trim();
    if (/^(["']).*\1$/.test(value)) value = value.slice(1, -1);
    vars.set(match[1], value);
  }
  return vars;
}

const INTERPOLATION = /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g;

/** Compose's interpolation of one string: `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR:?error}`, `$$`. */
function interpolate(
  text: string,
  vars: ReadonlyMap<string, string>,
  used: Set<string>,
  problems: string[],
  where: string,
): string {
  return text.replace(INTERPOLATION, (whole, braced?: string, operator?: string, argument?: string, bare?: string) => {
    if (whole === '$$') return '$';
    const name = braced ?? bare ?? '';
    used.add(name);
    const value = vars.get(name);
    const unsetOrEmpty = value === undefined || (operator?.startsWith(':') === true && value === '');
    if (operator?.endsWith('-')) return unsetOrEmpty ? (argument ?? '') : (value ?? '');
    if (operator?.endsWith('?')) {
      if (unsetOrEmpty) problems.push(`${where}: \${${name}} is required and not set (${argument ?? ''})`);
      return value ?? '';
    }
    if (value === undefined) problems.push(`${where}: \${${name}} is not set in .env.example and has no default`);
    return value ?? '';
  });
}

function interpolateAll(
  node: unknown,
  vars: ReadonlyMap<string, string>,
  used: Set<string>,
  problems: string[],
  where: string,
): unknown {
  if (typeof node === 'string') return interpolate(node, vars, used, problems, where);
  if (Array.isArray(node)) return node.map((item, i) => interpolateAll(item, vars, used, problems, `${where}[${i}]`));
  const map = asMap(node);
  if (map === undefined) return node;
  return Object.fromEntries(Object.entries(map).map(([k, v]) => [k, interpolateAll(v, vars, used, problems, `${where}.${k}`)]));
}

/** A service's `environment`, map or `KEY=value` list, as a map of strings. */
function environmentOf(service: Json): Map<string, string> {
  const env = new Map<string, string>();
  const raw = service.environment;
  if (Array.isArray(raw)) {
    for (const item of raw) {
      const [key, ...rest] = String(item).split('=');
      if (key !== undefined) env.set(key, rest.join('='));
    }
  } else {
    for (const [key, value] of Object.entries(asMap(raw) ?? {})) env.set(key, value === null ? '' : String(value));
  }
  return env;
}

/** Secrets granted to a service: container path → secret name. */
function secretsOf(service: Json): Map<string, string> {
  const granted = new Map<string, string>();
  for (const item of asList(service.secrets)) {
    const long = asMap(item);
    const source = long === undefined ? String(item) : String(long.source);
    const target = long?.target === undefined ? source : String(long.target);
    granted.set(target.startsWith('/') ? target : `/run/secrets/${target}`, source);
  }
  return granted;
}

/** `host:container` bind mounts of a service (short syntax), container path → host path resolved from the compose folder. */
function bindMounts(service: Json, composeDir: string): Map<string, string> {
  const mounts = new Map<string, string>();
  for (const item of asList(service.volumes)) {
    const [source, target] = String(item).split(':');
    if (source === undefined || target === undefined || !/^[./]/.test(source)) continue;
    mounts.set(target, resolve(composeDir, source));
  }
  return mounts;
}

/** The host path a container path lands on through a service's bind mounts, if any. */
function hostPathOf(containerPath: string, mounts: ReadonlyMap<string, string>): string | undefined {
  for (const [target, source] of mounts) {
    if (containerPath === target) return source;
    if (containerPath.startsWith(`${target}/`)) return join(source, containerPath.slice(target.length + 1));
  }
  return undefined;
}

/** Compose byte sizes (`256M`, `1g`, `512mb`): powers of 1024. */
export function parseByteSize(value: unknown): number | undefined {
  const match = /^(\d+(?:\.\d+)?)\s*([bkmg]?)b?$/i.exec(String(value).trim());
  if (match?.[1] === undefined) return undefined;
  const power = ['b', 'k', 'm', 'g'].indexOf((match[2] || 'b').toLowerCase());
  return Math.round(Number(match[1]) * 1024 ** power);
}

interface PublishedPort {
  readonly hostIp: string | undefined;
  readonly published: string;
  readonly target: string;
}

function publishedPorts(service: Json): PublishedPort[] {
  return asList(service.ports).map((item) => {
    const long = asMap(item);
    if (long !== undefined) {
      return {
        hostIp: long.host_ip === undefined ? undefined : String(long.host_ip),
        published: String(long.published),
        target: String(long.target),
      };
    }
    const parts = String(item).split(':');
    const target = parts.pop() ?? '';
    const published = parts.pop() ?? target;
    return { hostIp: parts.length > 0 ? parts.join(':') : undefined, published, target };
  });
}

/** The first `dist/…js` word of a command, as `src/…ts`. */
function entrySource(command: readonly string[]): string | undefined {
  const entry = command.find((word) => /^(\.\/|\/app\/)?dist\/.+\.js$/.test(word));
  return entry?.replace(/^(\.\/|\/app\/)?dist\//, 'src/').replace(/\.js$/, '.ts');
}

export function execForm(stage: Stage, keyword: 'CMD' | 'ENTRYPOINT'): string[] {
  const last = stage.instructions.filter((i) => i.keyword === keyword).at(-1);
  if (last === undefined) return [];
  try {
    const parsed = JSON.parse(last.args) as unknown;
    return Array.isArray(parsed) ? parsed.map(String) : [];
  } catch {
    return last.args.split(/\s+/);
  }
}

/** An environment that records every variable asked of it: what a `loadConfig` reads, found by running it. */
export function envRecorder(env: Readonly<Record<string, string>>): { readonly recorder: Env; readonly read: Set<string> } {
  const read = new Set<string>();
  const recorder = new Proxy(env, {
    get(target, key) {
      if (typeof key === 'string') read.add(key);
      return typeof key === 'string' ? target[key] : undefined;
    },
  });
  return { recorder, read };
}

/** The problems a `loadConfig` reported (every one of a ConfigError), or the error's message. */
export function errorMessages(err: unknown): string[] {
  if (err instanceof ConfigError) return [...err.problems];
  return [err instanceof Error ? err.message : String(err)];
}

export interface ComposeOverrides {
  /** Merged over compose.yaml as `docker compose -f compose.yaml -f override.yaml` would. */
  readonly compose?: string;
  /** Merged over traefik/dynamic.yml. */
  readonly traefikDynamic?: string;
}

/**
 * Every problem of the compose stack against the code and the repository (an empty list when it has none): images
 * pinned, build targets and entry files, each service's real `loadConfig` run with the container's environment
 * (compose.yaml after interpolation with .env.example, over the image's ENV, secret files mapped), ports, health
 * paths and variables against the services, Traefik's routes and rate limit against the gateway's, Prometheus's
 * targets and rule files, Alertmanager's receiver, secrets never inline, and the container hardening.
 */
export function checkCompose(
  files: ComposeFiles,
  code: ComposeCode,
  overrides: ComposeOverrides = {},
  root = REPOSITORY_ROOT,
): string[] {
  const problems: string[] = [];
  const composeDir = join(root, COMPOSE_DIR);
  const rawCompose = mergeOverride(
    parse(files.compose, { merge: true }),
    overrides.compose === undefined ? {} : parse(overrides.compose, { merge: true }),
  );
  const envVars = parseDotEnv(files.envExample);
  const used = new Set<string>();
  const project = asMap(interpolateAll(rawCompose, envVars, used, problems, 'compose.yaml')) ?? {};
  const rawServices = asMap(asMap(rawCompose)?.services) ?? {};
  const services = asMap(project.services) ?? {};
  const topSecrets = asMap(project.secrets) ?? {};

  if ('version' in project) problems.push('compose.yaml: the Compose Specification has no "version" key');
  if (envVars.get('HADDOCK_VERSION') !== files.packageVersion) {
    problems.push(`.env.example: HADDOCK_VERSION must be package.json's version ${files.packageVersion}`);
  }
  for (const secret of Object.values(topSecrets)) {
    const from = asMap(secret)?.environment;
    if (typeof from === 'string') used.add(from);
  }
  for (const name of envVars.keys()) if (!used.has(name)) problems.push(`.env.example: ${name} is not used by compose.yaml`);

  const stages = parseStages(files.dockerfile);
  if (stages.length === 0) problems.push('Dockerfile: missing or without stages (the services are built from it)');
  const settings = new Map<ComposeService, ServiceSettings>();
  const scratch = mkdtempSync(join(tmpdir(), 'haddock-compose-check-'));
  try {
    for (const [name, serviceValue] of Object.entries(services)) {
      const service = asMap(serviceValue) ?? {};
      const where = `service ${name}`;
      const image = typeof service.image === 'string' ? service.image : undefined;
      if (image === undefined) problems.push(`${where}: no image (pin one by tag, or name the built image)`);
      else {
        const reason = unpinnedReason(image);
        if (reason !== undefined) problems.push(`${where}: image ${image} ${reason}`);
      }
      for (const port of publishedPorts(service)) {
        const isTraefikWeb = name === 'traefik' && port.target === '80';
        if (!isTraefikWeb && port.hostIp !== '127.0.0.1') {
          problems.push(`${where}: port ${port.published}:${port.target} is published on every interface (bind it to 127.0.0.1)`);
        }
      }

      const build = asMap(service.build) ?? (typeof service.build === 'string' ? { context: service.build } : undefined);
      if (build === undefined) continue;
      if (!(COMPOSE_SERVICES as readonly string[]).includes(name)) {
        problems.push(`${where}: built from the Dockerfile but not one of the services ${COMPOSE_SERVICES.join(', ')}`);
        continue;
      }
      const svc = name as ComposeService;
      if (resolve(composeDir, String(build.context ?? '.')) !== resolve(root))
        problems.push(`${where}: build context must be the repository root`);
      const target = String(build.target ?? '');
      const stage = stages.find((s) => s.name === target);
      if (stage === undefined) {
        problems.push(
          `${where}: build target "${target}" is not a stage of the Dockerfile (${stages.map((s) => s.name).join(', ')})`,
        );
        continue;
      }
      if (image !== undefined && !/^haddock(-ops)?:/.test(image))
        problems.push(`${where}: a built image is named haddock:… or haddock-ops:…`);

      const command = Array.isArray(service.command) ? service.command.map(String) : execForm(stage, 'CMD');
      const source = entrySource(command);
      if (source === undefined) problems.push(`${where}: the command ${JSON.stringify(command)} runs no dist/….js`);
      else if (!existsSync(join(root, source)))
        problems.push(`${where}: the command's entry ${source} does not exist (nothing builds it)`);
      if (source !== undefined && source !== `src/services/${svc}/server.ts`)
        problems.push(`${where}: runs ${source}, not src/services/${svc}/server.ts`);

      // Hardening.
      if (service.read_only !== true) problems.push(`${where}: read_only must be true`);
      if (!['unless-stopped', 'always', 'on-failure'].includes(String(service.restart)))
        problems.push(`${where}: no restart policy`);
      if (!asList(service.tmpfs).map(String).includes('/tmp')) problems.push(`${where}: needs a tmpfs on /tmp (read-only root)`);
      if (asList(service.ports).length > 0) problems.push(`${where}: publishes ports; only Traefik and Grafana do`);
      const limits = asMap(asMap(asMap(service.deploy)?.resources)?.limits);
      const memory = parseByteSize(limits?.memory);
      const cpus = limits?.cpus === undefined ? undefined : Number(limits.cpus);
      if (memory === undefined || cpus === undefined || Number.isNaN(cpus))
        problems.push(`${where}: deploy.resources.limits needs cpus and memory`);

      // The container's environment: the image's ENV under compose's; secret files mapped to placeholder files.
      const env: Record<string, string> = Object.fromEntries(stageEnv(stage));
      const composeEnv = environmentOf(service);
      const granted = secretsOf(service);
      for (const [key, value] of composeEnv) {
        env[key] = value;
        if (key.endsWith('_FILE') && value !== '') {
          const secret = granted.get(value);
          if (secret === undefined) {
            problems.push(`${where}: ${key} names ${value}, which is not a secret granted to the service`);
            continue;
          }
          const placeholder = join(scratch, `${svc}-${secret}`);
          writeFileSync(placeholder, `${'a1'.repeat(24)}\n`);
          env[key] = placeholder;
        }
      }
      const { recorder, read } = envRecorder(env);
      try {
        const loaded = LOADERS[svc](recorder);
        settings.set(svc, loaded);
        if (memory !== undefined && loaded.memoryLimitBytes !== memory) {
          problems.push(`${where}: MEMORY_LIMIT_BYTES (${loaded.memoryLimitBytes}) differs from the memory limit (${memory})`);
        }
        if (cpus !== undefined && loaded.cpuLimitCores !== cpus) {
          problems.push(`${where}: CPU_LIMIT_CORES (${loaded.cpuLimitCores}) differs from the cpus limit (${cpus})`);
        }
      } catch (err) {
        for (const message of errorMessages(err)) problems.push(`${where}: its loadConfig refuses the environment: ${message}`);
      }
      for (const reader of code.otherReaders?.[svc] ?? []) {
        try {
          reader(recorder);
        } catch (err) {
          for (const message of errorMessages(err)) problems.push(`${where}: a reader of its environment refuses it: ${message}`);
        }
      }
      for (const key of composeEnv.keys()) {
        if (!read.has(key) && !RUNTIME_VARIABLES.includes(key))
          problems.push(`${where}: ${key} is not a variable the code reads`);
      }

      // The health check: the image's node, the image's probe, the service's port and one of its routes.
      const test = asList(asMap(service.healthcheck)?.test).map(String);
      const [form, node, probe, url] = test;
      const imageNode = execForm(stage, 'ENTRYPOINT')[0];
      if (form !== 'CMD' || url === undefined) problems.push(`${where}: health check must be ["CMD", node, probe, url]`);
      else {
        if (node !== imageNode) problems.push(`${where}: health check runs ${node}, the image's node is ${imageNode}`);
        if (probe === undefined || !probe.startsWith('/app/') || !existsSync(join(root, probe.slice('/app/'.length)))) {
          problems.push(`${where}: health check probe ${probe} is not a file of the repository copied to /app`);
        }
        const parsed = URL.canParse(url) ? new URL(url) : undefined;
        const port = settings.get(svc)?.port;
        if (parsed === undefined) problems.push(`${where}: health check URL ${url} is not a URL`);
        else {
          if (!['127.0.0.1', 'localhost'].includes(parsed.hostname)) problems.push(`${where}: health check must ask 127.0.0.1`);
          if (port !== undefined && Number(parsed.port) !== port)
            problems.push(`${where}: health check port ${parsed.port} is not the service's port ${port}`);
          if (!code.hasRoute(svc, 'GET', parsed.pathname))
            problems.push(`${where}: health check path ${parsed.pathname} is not a route of ${svc}`);
        }
      }
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  for (const svc of COMPOSE_SERVICES) if (!(svc in services)) problems.push(`service ${svc} is missing`);

  // No secret literal anywhere: a secret-named variable is a ${…} without a default, or a file.
  for (const [name, serviceValue] of Object.entries(rawServices)) {
    for (const [key, value] of environmentOf(asMap(serviceValue) ?? {})) {
      const interpolated = /^\$\{[A-Za-z_][A-Za-z0-9_]*(:?\?[^}]*)?\}$/.test(value);
      if (SECRET_NAME.test(key) && value !== '' && !interpolated) {
        problems.push(`service ${name}: ${key} is written inline; use a secret file (${key}_FILE) or \${${key}} from .env`);
      }
      if (URL.canParse(value) && new URL(value).password !== '')
        problems.push(`service ${name}: ${key} carries a password inline`);
    }
  }

  checkRedis(asMap(services.redis), files.redisConf, problems);
  checkTraefik(files.traefikDynamic, overrides.traefikDynamic, settings, code, problems);
  checkPrometheus(files.prometheus, asMap(services.prometheus), composeDir, settings, problems);
  checkAlertmanager(files.alertmanager, asMap(services.alertmanager), asMap(rawServices.ops), settings, code, problems);
  return problems;
}

function checkRedis(redis: Json | undefined, conf: string, problems: string[]): void {
  if (redis === undefined) {
    problems.push('service redis is missing');
    return;
  }
  const image = String(redis.image);
  if (!/^redis:7\.0\.\d+/.test(image))
    problems.push(`service redis: image ${image} is not Redis 7.0.x (the ops image's redis-server is 7.0)`);
  if (redis.read_only !== true) problems.push('service redis: read_only must be true');
  if (asMap(redis.healthcheck) === undefined) problems.push('service redis: no health check');
  if (!['unless-stopped', 'always', 'on-failure'].includes(String(redis.restart)))
    problems.push('service redis: no restart policy');
  if (asMap(asMap(asMap(redis.deploy)?.resources)?.limits) === undefined) problems.push('service redis: no resource limits');
  if (asList(redis.ports).length > 0) problems.push('service redis: publishes ports');
  if (!asList(redis.volumes).some((v) => /^[a-z][\w-]*:\/data$/.test(String(v))))
    problems.push('service redis: /data is not a named volume');
  if (!secretsOf(redis).has('/run/secrets/redis_password'))
    problems.push('service redis: the redis_password secret is not granted');
  const settings = new Map(
    conf
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line !== '' && !line.startsWith('#'))
      .map((line) => {
        const [key = '', ...rest] = line.split(/\s+/);
        return [key.toLowerCase(), rest.join(' ')] as const;
      }),
  );
  for (const [key, value] of [
    ['appendonly', 'yes'],
    ['appendfsync', 'everysec'],
    ['maxmemory-policy', 'noeviction'],
  ] as const) {
    if (settings.get(key) !== value) problems.push(`redis.conf: ${key} must be ${value}`);
  }
  if (!settings.has('maxmemory')) problems.push('redis.conf: maxmemory must be set');
}

function checkTraefik(
  text: string,
  override: string | undefined,
  settings: ReadonlyMap<ComposeService, ServiceSettings>,
  code: ComposeCode,
  problems: string[],
): void {
  const config = asMap(mergeOverride(parse(text), override === undefined ? {} : parse(override)));
  const http = asMap(config?.http) ?? {};
  const middlewares = asMap(http.middlewares) ?? {};
  const traefikServices = asMap(http.services) ?? {};

  // Each Traefik service points at one of ours, on the port its configuration gives.
  const upstreamOf = new Map<string, ComposeService>();
  for (const [name, value] of Object.entries(traefikServices)) {
    for (const server of asList(asMap(asMap(value)?.loadBalancer)?.servers)) {
      const url = String(asMap(server)?.url);
      const parsed = URL.canParse(url) ? new URL(url) : undefined;
      const svc = parsed?.hostname as ComposeService | undefined;
      if (svc === undefined || !COMPOSE_SERVICES.includes(svc)) {
        problems.push(`traefik service ${name}: ${url} is not one of the services`);
        continue;
      }
      upstreamOf.set(name, svc);
      const port = settings.get(svc)?.port;
      if (port !== undefined && Number(parsed?.port) !== port)
        problems.push(`traefik service ${name}: port ${parsed?.port} is not ${svc}'s port ${port}`);
    }
  }

  const routers: Router[] = [];
  for (const [name, value] of Object.entries(asMap(http.routers) ?? {})) {
    const router = asMap(value) ?? {};
    const ruleText = String(router.rule);
    let rule: RuleNode;
    try {
      rule = parseTraefikRule(ruleText);
    } catch (err) {
      problems.push(`traefik router ${name}: ${(err as Error).message}`);
      continue;
    }
    const names = asList(router.middlewares).map(String);
    for (const m of names) if (!(m in middlewares)) problems.push(`traefik router ${name}: middleware ${m} is not defined`);
    const service = String(router.service);
    if (!upstreamOf.has(service)) problems.push(`traefik router ${name}: service ${service} is not defined`);
    routers.push({ name, rule, priority: Number(router.priority ?? ruleText.length), middlewares: names, service });
  }

  // The rate limit: the gateway's default numbers, per client address.
  const limit = loadGatewayConfig({}).rateLimitPerMinute;
  const isRateLimit = (m: string) => asMap(asMap(middlewares[m])?.rateLimit) !== undefined;
  for (const [name, value] of Object.entries(middlewares)) {
    const rate = asMap(asMap(value)?.rateLimit);
    if (rate === undefined) continue;
    if (rate.average !== limit || rate.burst !== limit || parseDuration(String(rate.period)) !== 60_000) {
      problems.push(
        `traefik middleware ${name}: must be average ${limit}, period 1m, burst ${limit} (the gateway's RATE_LIMIT_PER_MINUTE)`,
      );
    }
    if (asMap(asMap(rate.sourceCriterion)?.ipStrategy) === undefined)
      problems.push(`traefik middleware ${name}: needs sourceCriterion.ipStrategy (per client)`);
  }

  // The same answer as the gateway for every path either names (the gateway's own liveness excepted: Traefik has its ping).
  problems.push(
    ...gatewayParityProblems({
      prefix: 'traefik',
      routers,
      upstreamOf: (router) => upstreamOf.get(router.service),
      isLimited: (router) => router.middlewares.some(isRateLimit),
      replacedPath: (router) =>
        router.middlewares
          .map((m) => asMap(asMap(middlewares[m])?.replacePath)?.path)
          .find((p) => p !== undefined)
          ?.toString(),
      hasRoute: (upstream, method, path) =>
        COMPOSE_SERVICES.includes(upstream as ComposeService) && code.hasRoute(upstream as ComposeService, method, path),
      docsUpstream: 'users',
    }),
  );
}

function checkPrometheus(
  text: string,
  service: Json | undefined,
  composeDir: string,
  settings: ReadonlyMap<ComposeService, ServiceSettings>,
  problems: string[],
): void {
  if (text !== renderComposePrometheusConfig()) {
    problems.push(
      'prometheus/prometheus.yml differs from renderComposePrometheusConfig(): run src/platform/deploy-checks/write-compose-config.ts',
    );
  }
  const config = asMap(parse(text)) ?? {};
  for (const job of asList(config.scrape_configs).map(asMap)) {
    const svc = /^haddock-(.+)$/.exec(String(job?.job_name))?.[1] as ComposeService | undefined;
    if (svc === undefined || !COMPOSE_SERVICES.includes(svc)) continue;
    const targets = asList(asMap(asList(job?.static_configs)[0])?.targets).map(String);
    const expected = `${svc}:${settings.get(svc)?.metricsPort}`;
    if (targets.length !== 1 || targets[0] !== expected)
      problems.push(`prometheus: job haddock-${svc} scrapes ${targets.join(', ')}, not ${expected} (METRICS_PORT)`);
  }
  if (service === undefined) {
    problems.push('service prometheus is missing');
    return;
  }
  const mounts = bindMounts(service, composeDir);
  const configPath = hostPathOf('/etc/prometheus/prometheus.yml', mounts);
  if (configPath !== join(composeDir, 'prometheus', 'prometheus.yml'))
    problems.push('service prometheus: prometheus/prometheus.yml is not mounted');
  const loaded = new Set<string>();
  for (const file of asList(config.rule_files).map(String)) {
    const host = hostPathOf(file, mounts);
    if (host === undefined || !existsSync(host))
      problems.push(`prometheus: rule file ${file} is not a mounted file of the repository`);
    else loaded.add(host);
  }
  for (const file of committedRuleFiles())
    if (!loaded.has(file)) problems.push(`prometheus: the rule file ${file} is not loaded`);
}

function checkAlertmanager(
  text: string,
  service: Json | undefined,
  rawOps: Json | undefined,
  settings: ReadonlyMap<ComposeService, ServiceSettings>,
  code: ComposeCode,
  problems: string[],
): void {
  if (text !== renderComposeAlertmanagerConfig()) {
    problems.push(
      'alertmanager/alertmanager.yml differs from renderComposeAlertmanagerConfig(): run src/platform/deploy-checks/write-compose-config.ts',
    );
  }
  const expectedUrl = `http://ops:${settings.get('ops')?.port}${OPS_ALERTS_PATH}`;
  const config = asMap(parse(text)) ?? {};
  const hooks = asList(config.receivers).flatMap((r) => asList(asMap(r)?.webhook_configs).map(asMap));
  if (hooks.length === 0 || hooks.some((h) => h?.url !== expectedUrl))
    problems.push(`alertmanager: every receiver must send to ${expectedUrl}`);
  if (!code.hasRoute('ops', 'POST', OPS_ALERTS_PATH))
    problems.push(`alertmanager: POST ${OPS_ALERTS_PATH} is not a route of ops`);
  const files = new Set(hooks.map((h) => asMap(asMap(h?.http_config)?.authorization)?.credentials_file));
  if (service === undefined) {
    problems.push('service alertmanager is missing');
    return;
  }
  const granted = secretsOf(service);
  for (const file of files) {
    if (typeof file !== 'string' || !granted.has(file))
      problems.push(`alertmanager: the bearer token file ${String(file)} is not a secret granted to it`);
  }
  // One token for both ends: the ops service reads the very secret file Alertmanager sends.
  const opsTokenFile = environmentOf(rawOps ?? {}).get('ALERT_WEBHOOK_TOKEN_FILE');
  if (opsTokenFile !== `/run/secrets/${ALERT_TOKEN_SECRET}` || !secretsOf(rawOps ?? {}).has(opsTokenFile)) {
    problems.push(
      `ops: ALERT_WEBHOOK_TOKEN_FILE must be /run/secrets/${ALERT_TOKEN_SECRET}, a secret granted to it (one token for both ends)`,
    );
  }
}
