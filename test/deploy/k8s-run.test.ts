import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { freePorts } from '../../src/lib/net/index.ts';
import { containerArgv, processEnv, readStages } from '../../src/platform/deploy-checks/k8s-policy.ts';
import {
  type Container,
  configMapData,
  containerOf,
  envOf,
  findObject,
  type HttpProbe,
  K8S_DEPLOYMENTS,
  type K8sObject,
  objectsOf,
  podLabelsOf,
  podSpecOf,
  renderOverlay,
  resolvePort,
  secretFileOf,
} from '../../src/platform/deploy-checks/k8s-render.ts';
import { appLayout } from '../helpers/app-layout.ts';
import { connectRedis } from '../helpers/redis.ts';

const tmp = mkdtempSync(join(tmpdir(), 'haddock-k8s-run-'));
const REDIS_PASSWORD = randomBytes(12).toString('hex');
/** What each mounted Secret key holds here (Secret name without kustomize's hash suffix → key → value). */
const SECRET_VALUES: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  'haddock-redis': { password: REDIS_PASSWORD },
  'haddock-admin': { 'admin-key': `run-test-admin-${randomBytes(12).toString('hex')}` },
  'haddock-alert-webhook': { token: `run-test-webhook-${randomBytes(12).toString('hex')}` },
};
const PREFIX = `test:k8s-run:${randomBytes(6).toString('hex')}:`;

interface Running {
  readonly deployment: string;
  readonly container: Container;
  readonly process: ChildProcess;
  readonly ports: ReadonlyMap<number, number>; // containerPort → local port
  output: string;
}

let objects: K8sObject[];
let app: string;
let redis: ChildProcess | undefined;
let redisPort: number;
const running: Running[] = [];
const timings: string[] = [];

/** A private redis-server with a password (the manifests' Redis has one), nothing on disk. */
async function startRedis(port: number): Promise<ChildProcess> {
  const dir = join(tmp, 'redis');
  mkdirSync(dir, { recursive: true });
  const child = spawn(
    'redis-server',
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--requirepass',
      REDIS_PASSWORD,
      '--save',
      '',
      '--appendonly',
      'no',
      '--dir',
      dir,
    ],
    { stdio: 'ignore' },
  );
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', (err: NodeJS.ErrnoException) =>
      reject(err.code === 'ENOENT' ? new Error('redis-server is not installed: apt-get install -y redis-server') : err),
    );
  });
  const deadline = Date.now() + 5_000;
  for (;;) {
    const client = connectRedis(`redis://:${REDIS_PASSWORD}@127.0.0.1:${port}`);
    client.on('error', () => {});
    try {
      await client.connect();
      if ((await client.ping()) === 'PONG') return child;
    } catch (err) {
      if (Date.now() > deadline) throw new Error('the private redis-server did not answer', { cause: err });
    } finally {
      client.disconnect();
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The Secret a volume names, without kustomize's hash suffix. */
function secretBaseName(name: string): string {
  return Object.keys(SECRET_VALUES).find((base) => name === base || new RegExp(`^${base}-[a-z0-9]{10}$`).test(name)) ?? name;
}

/** The local port a probe asks: its port (name or number) resolved to the containerPort, mapped. */
function probeUrl(run: Running, probe: HttpProbe): string {
  assert.ok(probe.httpGet, `${run.deployment}: the probe is not an httpGet`);
  const port = resolvePort(run.container, probe.httpGet.port);
  assert.ok(port !== undefined, `${run.deployment}: probe port ${String(probe.httpGet.port)} is not declared`);
  const local = run.ports.get(port);
  assert.ok(local !== undefined, `${run.deployment}: no local port for ${port}`);
  return `http://127.0.0.1:${local}${probe.httpGet.path ?? '/'}`;
}

/** Seconds until the kubelet gives up on a probe: initialDelay + failureThreshold × period (Kubernetes' defaults). */
function budgetSeconds(probe: HttpProbe): number {
  return (probe.initialDelaySeconds ?? 0) + (probe.failureThreshold ?? 3) * (probe.periodSeconds ?? 10);
}

async function status(url: string): Promise<number> {
  return fetch(url, { signal: AbortSignal.timeout(2_000) }).then(
    async (r) => {
      await r.arrayBuffer();
      return r.status;
    },
    () => 0,
  );
}

/** Polls until the probe answers 2xx or 3xx (what the kubelet counts as success) or the budget runs out. */
async function passes(run: Running, probe: HttpProbe, seconds: number): Promise<void> {
  const url = probeUrl(run, probe);
  const deadline = Date.now() + seconds * 1_000;
  let last = 0;
  while (Date.now() < deadline && run.process.exitCode === null) {
    last = await status(url);
    if (last >= 200 && last < 400) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.fail(
    `${run.deployment}: ${url} answered ${last} within ${seconds} s (exit code ${run.process.exitCode}); its last output:\n${run.output}`,
  );
}

/**
 * Starts a Deployment's container as a local process: the container's argv (command/args over the image's
 * ENTRYPOINT/CMD, node being this node) and exactly its environment (image ENV, ConfigMaps, literals, the downward
 * API), substituting only Secret files, in-cluster addresses, listening ports, mounted paths and the key prefix.
 */
function start(
  deployment: string,
  containerName: string,
  hostMap: ReadonlyMap<string, string>,
  localPorts: Map<number, number>,
): Running {
  const obj = findObject(objects, 'Deployment', deployment);
  const spec = podSpecOf(obj);
  assert.ok(spec);
  const container = containerOf(obj, containerName);
  const stages = readStages();
  const env = processEnv(container, stages, envOf(container, configMapData(objects)));
  const root = join(tmp, deployment);
  for (const [key, value] of Object.entries(env)) {
    // Secrets: a file at the same path under this run's folder, holding this run's value.
    const secret = value.startsWith('/') ? secretFileOf(spec, container, value) : undefined;
    if (secret !== undefined) {
      const content = SECRET_VALUES[secretBaseName(secret.secret)]?.[secret.key];
      assert.ok(content !== undefined, `${deployment}: ${key} reads ${secret.secret}/${secret.key}, unknown to this test`);
      const file = join(root, value);
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, `${content}\n`);
      env[key] = file;
      continue;
    }
    // Mounted folders (emptyDir, the backups PVC): the same path under this run's folder.
    const mount = container.volumeMounts?.find((m) => value === m.mountPath || value.startsWith(`${m.mountPath}/`));
    if (mount !== undefined && value.startsWith('/')) {
      env[key] = join(root, value);
      mkdirSync(env[key], { recursive: true });
      continue;
    }
    // In-cluster addresses: host:port of a Service → the local process behind it.
    if (URL.canParse(value)) {
      const url = new URL(value);
      const local = hostMap.get(`${url.hostname}:${url.port}`);
      if (local !== undefined) env[key] = value.replace(`${url.hostname}:${url.port}`, local);
      continue;
    }
    // Listening ports: a declared containerPort → its local port.
    if (/PORT$/.test(key) && localPorts.has(Number(value))) env[key] = String(localPorts.get(Number(value)));
  }
  env.REDIS_KEY_PREFIX = PREFIX;
  env.PATH = process.env.PATH ?? '/usr/bin:/bin';
  const [node, ...args] = containerArgv(container, stages);
  assert.match(node ?? '', /\/node$/, `${deployment}: the container does not start node (${node})`);
  const child = spawn(process.execPath, args, { cwd: app, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const run: Running = { deployment, container, process: child, ports: localPorts, output: '' };
  const keep = (chunk: Buffer) => {
    run.output = (run.output + chunk.toString()).slice(-4_000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  return run;
}

describe('the production Deployments run from the manifests: their command, args and env, with Secrets as temp files, Services and Redis as local addresses, ports remapped, volumes as temp folders', {
  timeout: 150_000,
}, () => {
  before(async () => {
    objects = renderOverlay('production');
    const layout = await appLayout();
    app = layout.app;
    timings.push(...layout.timings);

    // A local port for every containerPort of every platform Deployment, and for Redis.
    const deployments = Object.keys(K8S_DEPLOYMENTS).map((name) => findObject(objects, 'Deployment', name));
    const containerPorts = deployments.map(
      (d) =>
        containerOf(d, K8S_DEPLOYMENTS[d.metadata.name as keyof typeof K8S_DEPLOYMENTS]).ports?.map((p) => p.containerPort) ?? [],
    );
    const free = await freePorts(containerPorts.flat().length + 1);
    redisPort = free.pop() as number;
    const localPorts = containerPorts.map((ports) => new Map(ports.map((p) => [p, free.shift() as number])));

    // Services → the local ports of the Deployment they select (targetPort by name or number).
    const hostMap = new Map<string, string>([['redis:6379', `127.0.0.1:${redisPort}`]]);
    for (const service of objectsOf(objects, 'Service')) {
      const selector = ((service.spec as { selector?: Record<string, string> })?.selector ?? {}) as Record<string, string>;
      deployments.forEach((d, i) => {
        const labels = podLabelsOf(d);
        if (Object.keys(selector).length === 0 || !Object.entries(selector).every(([k, v]) => labels[k] === v)) return;
        const container = containerOf(d, K8S_DEPLOYMENTS[d.metadata.name as keyof typeof K8S_DEPLOYMENTS]);
        for (const port of (service.spec as { ports?: { port: number; targetPort?: number | string }[] }).ports ?? []) {
          const target = resolvePort(container, port.targetPort ?? port.port);
          const local = target === undefined ? undefined : localPorts[i]?.get(target);
          if (local !== undefined) hostMap.set(`${service.metadata.name}:${port.port}`, `127.0.0.1:${local}`);
        }
      });
    }
    redis = await startRedis(redisPort);
    deployments.forEach((d, i) => {
      const name = d.metadata.name as keyof typeof K8S_DEPLOYMENTS;
      running.push(start(name, K8S_DEPLOYMENTS[name], hostMap, localPorts[i] ?? new Map()));
    });
  });

  after(async () => {
    await Promise.all(
      [...running.map((r) => r.process), ...(redis === undefined ? [] : [redis])].map(async (child) => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        const exited = once(child, 'exit');
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
        await exited;
        clearTimeout(timer);
      }),
    );
    rmSync(tmp, { recursive: true, force: true });
    console.log(`k8s run: ${timings.join(', ')}`);
  });

  for (const deployment of Object.keys(K8S_DEPLOYMENTS)) {
    test(`${deployment}: passes its readinessProbe and livenessProbe within the liveness budget, and serves /metrics`, async () => {
      const run = running.find((r) => r.deployment === deployment);
      assert.ok(run, `${deployment} was not started`);
      const { readinessProbe, livenessProbe, startupProbe } = run.container;
      assert.ok(readinessProbe && livenessProbe, `${deployment}: a probe is missing`);
      // The kubelet restarts a container whose liveness (or startup) probe fails past its budget.
      const budget = budgetSeconds(startupProbe ?? livenessProbe);
      const start = Date.now();
      await passes(run, livenessProbe, budget);
      await passes(run, readinessProbe, Math.max(1, budget - (Date.now() - start) / 1_000));
      const metrics = run.container.ports?.find((p) => p.name === 'metrics');
      assert.ok(metrics, `${deployment}: no port named metrics`);
      const url = `http://127.0.0.1:${run.ports.get(metrics.containerPort)}/metrics`;
      const response = await fetch(url);
      assert.equal(response.status, 200, `${url}`);
      assert.match(await response.text(), /^# HELP /m);
      timings.push(`${deployment} ready ${((Date.now() - start) / 1000).toFixed(1)} s after its check began`);
    });
  }
});
