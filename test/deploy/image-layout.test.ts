import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { freePorts } from '../../src/lib/net/index.ts';
import { healthcheckCommand, parseStages, stageEnv } from '../../src/platform/deploy-checks/dockerfile.ts';
import { appLayout } from '../helpers/app-layout.ts';
import { cleanPrefix, requireRedis, testRedisUrl, uniquePrefix } from '../helpers/redis.ts';

const run = promisify(execFile);
const ROOT = new URL('../..', import.meta.url).pathname;
const STAGES = parseStages(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'));
const ADMIN_KEY = 'layout-test-admin-key-0123456789';
const PREFIX = uniquePrefix('image-layout');

function stage(name: string) {
  const found = STAGES.find((s) => s.name === name);
  assert.ok(found, `the Dockerfile has no stage ${name}`);
  return found;
}

/** The path of the image's HEALTHCHECK URL, to ask of the same service on this run's port. */
function healthPath(name: string): string {
  return new URL(healthcheckCommand(stage(name))?.[2] ?? 'http://invalid/').pathname;
}

interface Child {
  readonly name: string;
  readonly process: ChildProcess;
  output: string;
}

const tmp = mkdtempSync(join(tmpdir(), 'haddock-image-layout-'));
/** Laid out as the images' /app: the listed files, the compiled dist/, production node_modules/ (test/helpers/app-layout.ts). */
let app: string;
const children: Child[] = [];
let ports: Record<'users' | 'quotes' | 'search' | 'ops' | 'gateway' | 'dead', number>;
let metricsPorts: number[];
const timings: string[] = [];

async function timed<T>(what: string, work: () => Promise<T>): Promise<T> {
  const start = Date.now();
  try {
    return await work();
  } finally {
    timings.push(`${what} ${((Date.now() - start) / 1000).toFixed(1)} s`);
  }
}

/** The environment of a process in the image `stageName`: only PATH from here, then the image's ENV, then `extra`. */
function imageEnv(stageName: string, extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH };
  for (const [key, value] of stageEnv(stage(stageName))) env[key] = value;
  // The image's /tmp is a mounted volume; here, this run's own folder.
  env.TMPDIR = join(tmp, 'tmp');
  return { ...env, ...extra };
}

function start(name: string, file: string, stageName: string, env: Record<string, string>): void {
  const child: Child = {
    name,
    process: spawn(process.execPath, [file], { cwd: app, env: imageEnv(stageName, env), stdio: ['ignore', 'pipe', 'pipe'] }),
    output: '',
  };
  const keep = (chunk: Buffer) => {
    child.output = (child.output + chunk.toString()).slice(-4_000);
  };
  child.process.stdout?.on('data', keep);
  child.process.stderr?.on('data', keep);
  children.push(child);
}

async function waitReady(child: Child, url: string, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (child.process.exitCode !== null) break;
    const status = await fetch(url).then(
      async (r) => {
        await r.arrayBuffer();
        return r.status;
      },
      () => 0,
    );
    if (status === 200) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.fail(
    `compiled ${child.name} (node ${child.process.spawnargs.at(-1)}) not ready at ${url} within ${ms / 1000} s` +
      ` (exit code ${child.process.exitCode}); its last output:\n${child.output}`,
  );
}

/** Runs `node <args>` from the app directory; never throws: the test reads the code and output. */
async function node(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, args, { cwd: app, env, timeout: 20_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

describe('the compiled platform, laid out as the images copy it', { timeout: 120_000 }, () => {
  before(async () => {
    await requireRedis();
    mkdirSync(join(tmp, 'tmp'), { recursive: true });
    const layout = await appLayout();
    app = layout.app;
    timings.push(...layout.timings);
    const all = await freePorts(11);
    const [users, quotes, search, ops, gateway, dead, ...metrics] = all as [number, number, number, number, number, number];
    ports = { users, quotes, search, ops, gateway, dead };
    metricsPorts = metrics;
  });

  after(async () => {
    await Promise.all(
      children.map(async ({ process: child }) => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        const exited = once(child, 'exit');
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
        await exited;
        clearTimeout(timer);
      }),
    );
    await cleanPrefix(testRedisUrl(), PREFIX).catch(() => undefined);
    rmSync(tmp, { recursive: true, force: true });
    console.log(`image layout: ${timings.join(', ')}`);
  });

  test('production node_modules: no tsx, no typescript; no src/ beside bin/', () => {
    for (const dev of ['tsx', 'typescript', '@biomejs', '.bin/tsx', '.bin/tsc']) {
      assert.ok(!existsSync(join(app, 'node_modules', dev)), `node_modules/${dev} is installed by npm ci --omit=dev`);
    }
    assert.ok(existsSync(join(app, 'node_modules', 'fastify')), 'production dependencies are installed');
    assert.ok(!existsSync(join(app, 'src')), 'the layout must not hold src/: bin/haddock.mjs would take the checkout branch');
  });

  test('users, quotes, search, ops and the gateway run compiled, with the images’ environment, and answer through the gateway', async () => {
    const url = (name: keyof typeof ports) => `http://127.0.0.1:${ports[name]}`;
    const common = {
      HOST: '127.0.0.1',
      REDIS_URL: testRedisUrl(),
      REDIS_KEY_PREFIX: PREFIX,
      ADMIN_KEY,
      LOG_LEVEL: 'WARN',
    };
    const services = [
      { name: 'users', file: 'dist/services/users/server.js', stage: 'runtime' },
      { name: 'quotes', file: 'dist/services/quotes/server.js', stage: 'runtime' },
      { name: 'search', file: 'dist/services/search/server.js', stage: 'runtime' },
      { name: 'ops', file: 'dist/services/ops/server.js', stage: 'ops' },
    ] as const;
    await timed('start and readiness', async () => {
      services.forEach(({ name, file, stage: stageName }, i) => {
        const extra: Record<string, string> = { ...common, PORT: String(ports[name]), METRICS_PORT: String(metricsPorts[i]) };
        if (name === 'ops') {
          extra.BACKUP_DIR = join(tmp, 'backups');
          extra.BACKUP_SCHEDULE_ENABLED = 'false';
        }
        start(name, file, stageName, extra);
      });
      start('gateway', 'dist/platform/gateway/server.js', 'runtime', {
        HOST: '127.0.0.1',
        LOG_LEVEL: 'WARN',
        GATEWAY_PORT: String(ports.gateway),
        GATEWAY_METRICS_PORT: String(metricsPorts[4]),
        USERS_URL: url('users'),
        QUOTES_URL: url('quotes'),
        SEARCH_URL: url('search'),
        OPS_URL: url('ops'),
        RATE_LIMIT_PER_MINUTE: '0',
      });
      await Promise.all(
        children.map((child) =>
          waitReady(
            child,
            child.name === 'gateway' ? `${url('gateway')}/gateway/health` : `${url(child.name as 'users')}/${child.name}/health`,
          ),
        ),
      );
    });

    const gateway = url('gateway');
    const login = await fetch(`${gateway}/users/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'Alice', password: 'inWonderland' }),
    });
    assert.equal(login.status, 200, 'POST /users/login through the gateway (users seeded from data/ in the layout)');
    const { token } = (await login.json()) as { token: string };

    const random = await fetch(`${gateway}/quotes/random`);
    assert.equal(random.status, 200, 'GET /quotes/random through the gateway');
    assert.equal(typeof ((await random.json()) as { quote?: unknown }).quote, 'string');

    const search = await fetch(`${gateway}/search?keyword=tonnerre`, { headers: { authorization: token } });
    assert.equal(search.status, 200, 'GET /search through the gateway');
    assert.ok(Array.isArray(await search.json()));

    const incidents = await fetch(`${gateway}/ops/incidents`, { headers: { authorization: ADMIN_KEY } });
    assert.equal(incidents.status, 200, 'GET /ops/incidents through the gateway');
    assert.ok(Array.isArray(await incidents.json()));
  });

  test('the health probe: exit 0 on the images’ health paths, 1 on a dead port, one line each', async () => {
    const probe = join(app, 'deploy/docker/healthcheck.mjs');
    const env = imageEnv('runtime', {});
    for (const [name, stageName] of [
      ['users', 'runtime'],
      ['ops', 'ops'],
    ] as const) {
      const target = `http://127.0.0.1:${ports[name]}${healthPath(stageName)}`;
      const ok = await node([probe, target], env);
      assert.equal(ok.code, 0, `healthcheck.mjs ${target}: ${ok.stdout}${ok.stderr}`);
      assert.match(ok.stdout, /^healthy: .* answered 200\n$/);
    }
    const dead = await node([probe, `http://127.0.0.1:${ports.dead}/users/health/live`, '1'], env);
    assert.equal(dead.code, 1, dead.stdout);
    assert.match(dead.stdout, /^unhealthy: .*ECONNREFUSED\n$/);
    const missing = await node([probe, `http://127.0.0.1:${ports.users}/users/health/nothing-here`], env);
    assert.equal(missing.code, 1, 'a 404 is not healthy');
  });

  test('the compiled CLI: --help, and haddock health through the PATH symlink the ops image makes', async () => {
    const url = (name: keyof typeof ports) => `http://127.0.0.1:${ports[name]}`;
    const help = await node([join(app, 'bin/haddock.mjs'), '--help'], imageEnv('ops', {}));
    assert.equal(help.code, 0, help.stderr);
    assert.match(help.stdout, /Usage: haddock/);

    // As the ops image: /usr/local/bin/haddock → /app/bin/haddock.mjs, run by its shebang.
    const bin = join(tmp, 'bin');
    mkdirSync(bin, { recursive: true });
    symlinkSync(join(app, 'bin/haddock.mjs'), join(bin, 'haddock'));
    const env = imageEnv('ops', {
      USERS_URL: url('users'),
      QUOTES_URL: url('quotes'),
      SEARCH_URL: url('search'),
      OPS_URL: url('ops'),
      HADDOCK_URL: url('gateway'),
    });
    env.PATH = `${bin}${delimiter}${env.PATH ?? ''}`;
    const health = await run('haddock', ['health'], { cwd: tmp, env, timeout: 20_000 }).then(
      ({ stdout }) => ({ code: 0, stdout }),
      (err: { code?: number; stdout?: string; stderr?: string }) => ({
        code: err.code ?? -1,
        stdout: `${err.stdout}${err.stderr}`,
      }),
    );
    assert.equal(health.code, 0, `haddock health:\n${health.stdout}`);
    assert.match(health.stdout, /users/);
  });
});
