import { accessSync, closeSync, constants, mkdirSync, openSync, rmSync, statSync, writeSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import type { ChildSpec } from './child.ts';
import type { RunnerConfig } from './config.ts';
import { PlatformError, REDIS_MISSING_MESSAGE } from './errors.ts';
import { assertPortFree, httpProbe, redisProbe } from './probes.ts';
import { commandLine, isAlive, readPidFile } from './processes.ts';
import { Supervisor, type SupervisorEvent } from './supervisor.ts';

export interface PlatformUrls {
  readonly gateway: string;
  readonly apidocs: string;
  readonly users: string;
  readonly quotes: string;
  readonly search: string;
  readonly redis: string;
}

export interface PlatformHandle {
  /** Base URLs on the loopback address (no trailing slash), and the Redis URL the services use. */
  readonly urls: PlatformUrls;
  /** Each child's current pid (`redis` only when the runner started it); changes after a restart. */
  pids(): Readonly<Record<string, number | undefined>>;
  /** Stops the gateway, then the services, then the private Redis; resolves when all are gone. */
  stop(): Promise<void>;
}

export interface StartOptions {
  /** Lifecycle events (started, ready, exited, restarted, stopped) for a printer. */
  readonly onEvent?: (event: SupervisorEvent) => void;
  /** Aborting stops whatever was started, and `startPlatform` rejects. */
  readonly signal?: AbortSignal;
}

/** Where `name` is on `path` (a PATH value), if anywhere. */
export function findExecutable(name: string, path: string | undefined): string | undefined {
  for (const dir of (path ?? '').split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, name);
    try {
      if (!statSync(candidate).isFile()) continue;
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // Not here.
    }
  }
  return undefined;
}

/** 127.0.0.1 when the children listen on every interface; their own address otherwise. */
function probeHost(host: string): string {
  if (host === '0.0.0.0' || host === '' || host === '::') return '127.0.0.1';
  return host.includes(':') ? `[${host}]` : host;
}

function platformUrls(config: RunnerConfig): PlatformUrls {
  const host = probeHost(config.host);
  const base = (port: number) => `http://${host}:${port}`;
  return {
    gateway: base(config.ports.gateway),
    apidocs: `${base(config.ports.gateway)}/apidocs`,
    users: base(config.ports.users),
    quotes: base(config.ports.quotes),
    search: base(config.ports.search),
    redis: config.redisUrl ?? `redis://127.0.0.1:${config.ports.redis}`,
  };
}

/**
 * The platform, declared: one entry per child. Tier 0 is the private Redis,
 * tier 1 the services, tier 2 the gateway; a new child (Prometheus,
 * Alertmanager…) is one more entry with its tier and probe.
 */
export function platformChildren(config: RunnerConfig, redisServer: string | undefined): ChildSpec[] {
  const urls = platformUrls(config);
  const logDir = join(config.varDir, 'log');
  const runDir = join(config.varDir, 'run');
  const env: Record<string, string | undefined> = {
    ...config.env,
    HOST: config.host,
    REDIS_URL: urls.redis,
    GATEWAY_PORT: String(config.ports.gateway),
    USERS_URL: urls.users,
    QUOTES_URL: urls.quotes,
    SEARCH_URL: urls.search,
    QUOTES_SEED_FILE: config.quotesSeedFile,
    USERS_SEED_FILE: config.usersSeedFile,
  };
  const files = (name: string) => ({ logFile: join(logDir, `${name}.log`), pidFile: join(runDir, `${name}.pid`) });

  const node = (name: string, script: string, port: number, probePath: string, tier: number): ChildSpec => {
    const file = join(config.home, script);
    return {
      name,
      command: process.execPath,
      args: ['--import', 'tsx', file],
      env: { ...env, PORT: String(port) },
      cwd: config.home,
      ...files(name),
      identity: file,
      tier,
      probe: httpProbe(`http://${probeHost(config.host)}:${port}${probePath}`),
      prepare: () => assertPortFree(config.host, port, name),
      stopTimeoutMs: config.stopTimeoutMs,
      // runEntry exits 2 on a configuration error: restarting will not fix it.
      fatalExitCodes: [2],
    };
  };

  const children: ChildSpec[] = [];
  if (redisServer !== undefined) {
    const port = config.ports.redis;
    children.push({
      name: 'redis',
      command: redisServer,
      args: [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--dir',
        join(config.varDir, 'redis'),
        '--appendonly',
        'yes',
        '--appendfsync',
        'everysec',
        '--daemonize',
        'no',
        '--logfile',
        join(logDir, 'redis.log'),
        '--protected-mode',
        'yes',
      ],
      env: config.env,
      cwd: config.home,
      ...files('redis'),
      identity: 'redis-server',
      tier: 0,
      probe: redisProbe('127.0.0.1', port),
      prepare: () => assertPortFree('127.0.0.1', port, 'redis'),
      // Redis writes its AOF buffer out on SIGTERM: give it time.
      stopTimeoutMs: Math.max(config.stopTimeoutMs, 30_000),
    });
  }
  children.push(
    node('users', 'src/services/users/server.ts', config.ports.users, '/users/health/live', 1),
    node('quotes', 'src/services/quotes/server.ts', config.ports.quotes, '/quotes/health/live', 1),
    node('search', 'src/services/search/server.ts', config.ports.search, '/search/health/live', 1),
    node('gateway', 'src/platform/gateway/server.ts', config.ports.gateway, '/apidocs/json', 2),
  );
  return children;
}

/**
 * One runner per var directory: a second one would fight over ports and pid
 * files. The lock is a pid file created exclusively; a stale one (its runner
 * is gone) is taken over. Returns the release function.
 */
function lockVarDir(runDir: string, varDir: string): () => void {
  const file = join(runDir, 'runner.pid');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(file, 'wx');
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      return () => {
        if (readPidFile(file) === process.pid) rmSync(file, { force: true });
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const owner = readPidFile(file);
      const command = owner === undefined ? undefined : commandLine(owner);
      if (owner !== undefined && isAlive(owner) && (command === undefined || command.includes('node'))) {
        throw new PlatformError(
          `another platform runner (pid ${owner}) is using ${varDir}: stop it first, or set HADDOCK_VAR_DIR to another directory`,
        );
      }
      rmSync(file, { force: true });
    }
  }
  throw new PlatformError(`could not lock ${varDir} (${file})`);
}

/**
 * Starts the platform on this machine: a private redis-server (unless
 * REDIS_URL is set), the three services and the gateway, each supervised and
 * restarted with backoff, and resolves once every one answers its probe.
 * On any failure, everything started is stopped before the promise rejects.
 */
export async function startPlatform(config: RunnerConfig, options: StartOptions = {}): Promise<PlatformHandle> {
  let redisServer: string | undefined;
  if (config.redisUrl === undefined) {
    redisServer = findExecutable('redis-server', config.env.PATH);
    if (redisServer === undefined) throw new PlatformError(REDIS_MISSING_MESSAGE);
  }
  const runDir = join(config.varDir, 'run');
  for (const dir of [join(config.varDir, 'log'), join(config.varDir, 'redis'), runDir]) mkdirSync(dir, { recursive: true });
  // Read the seed files now: a missing one is a clear message here, a crash loop later.
  for (const file of [config.quotesSeedFile, config.usersSeedFile]) {
    try {
      accessSync(file, constants.R_OK);
    } catch {
      throw new PlatformError(`seed file not readable: ${file}`);
    }
  }
  const unlock = lockVarDir(runDir, config.varDir);
  const supervisor = new Supervisor(platformChildren(config, redisServer), {
    readyTimeoutMs: config.readyTimeoutMs,
    onEvent: options.onEvent,
  });
  try {
    await supervisor.start(options.signal);
  } catch (err) {
    unlock();
    throw err;
  }
  let stopping: Promise<void> | undefined;
  return {
    urls: platformUrls(config),
    pids: () => supervisor.pids(),
    stop: () => {
      stopping ??= supervisor.stop().finally(unlock);
      return stopping;
    },
  };
}
