import { accessSync, closeSync, constants, mkdirSync, openSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { ChildSpec } from './child.ts';
import type { RunnerConfig } from './config.ts';
import { PlatformError, REDIS_MISSING_MESSAGE } from './errors.ts';
import { assertPortFree, httpProbe, redisProbe } from './probes.ts';
import { commandLine, findExecutable, isAlive, readPidFile } from './processes.ts';
import {
  type MonitoringBinaries,
  monitoringChildren,
  monitoringPaths,
  resolveMonitoring,
  scrapeTargets,
} from './prometheus-stack.ts';
import { Supervisor, type SupervisorEvent } from './supervisor.ts';

export interface PlatformUrls {
  readonly gateway: string;
  readonly apidocs: string;
  readonly users: string;
  readonly quotes: string;
  readonly search: string;
  readonly ops: string;
  readonly redis: string;
  /** The local Alertmanager webhook receiver (`GET /alerts` lists what it received). */
  readonly alertSink: string;
  /** Each process's private metrics listener (`<url>/metrics`): what Prometheus scrapes, never the public ports. */
  readonly metrics: Readonly<Record<'users' | 'quotes' | 'search' | 'ops' | 'gateway', string>>;
  /** Set when the runner started Prometheus. */
  readonly prometheus?: string;
  /** Set when the runner started Alertmanager. */
  readonly alertmanager?: string;
}

/** A lifecycle event of a child, or a one-line notice from the runner (a missing optional binary). */
export type PlatformEvent = SupervisorEvent | { readonly type: 'notice'; readonly message: string };

/** The executables the runner starts besides node; undefined means "not started". */
export interface PlatformBinaries extends MonitoringBinaries {
  /** The private Redis; undefined when REDIS_URL or REDIS_SENTINELS names an existing one. */
  readonly redisServer: string | undefined;
}

export interface PlatformHandle {
  /** Base URLs on the loopback address (no trailing slash), and the Redis URL the services use. */
  readonly urls: PlatformUrls;
  /** Each child's current pid (`redis` only when the runner started it); changes after a restart. */
  pids(): Readonly<Record<string, number | undefined>>;
  /**
   * Stops one child (SIGTERM, then SIGKILL after its grace) and keeps it down,
   * without restart, until `startChild`: maintenance, or an outage drill.
   */
  stopChild(name: string): Promise<void>;
  /** Starts a child `stopChild` took down; resolves once it answers its probe. */
  startChild(name: string): Promise<void>;
  /**
   * Stops Prometheus, Alertmanager, the alert sink, the gateway, then the services, then the private Redis;
   * resolves when all are gone.
   */
  stop(): Promise<void>;
}

export interface StartOptions {
  /** Lifecycle events (started, ready, exited, restarted, stopped) and notices, for a printer. */
  readonly onEvent?: (event: PlatformEvent) => void;
  /** Aborting stops whatever was started, and `startPlatform` rejects. */
  readonly signal?: AbortSignal;
}

/** 127.0.0.1 when the children listen on every interface; their own address otherwise. */
function probeHost(host: string): string {
  if (host === '0.0.0.0' || host === '' || host === '::') return '127.0.0.1';
  return host.includes(':') ? `[${host}]` : host;
}

function platformUrls(config: RunnerConfig, binaries: MonitoringBinaries): PlatformUrls {
  const host = probeHost(config.host);
  const base = (port: number) => `http://${host}:${port}`;
  const loopback = (port: number) => `http://127.0.0.1:${port}`;
  return {
    gateway: base(config.ports.gateway),
    apidocs: `${base(config.ports.gateway)}/apidocs`,
    users: base(config.ports.users),
    quotes: base(config.ports.quotes),
    search: base(config.ports.search),
    ops: base(config.ports.ops),
    redis: config.redisUrl ?? sentinelUrl(config) ?? `redis://127.0.0.1:${config.ports.redis}`,
    alertSink: loopback(config.ports.alertSink),
    metrics: metricsUrls(config),
    ...(binaries.prometheus === undefined ? {} : { prometheus: loopback(config.ports.prometheus) }),
    ...(binaries.alertmanager === undefined ? {} : { alertmanager: loopback(config.ports.alertmanager) }),
  };
}

/** The private metrics listeners' base URLs: the services' on METRICS_HOST, the gateway's on GATEWAY_METRICS_HOST. */
function metricsUrls(config: RunnerConfig): PlatformUrls['metrics'] {
  const service = (port: number) => `http://${probeHost(config.metricsHost)}:${port}`;
  return Object.freeze({
    users: service(config.ports.usersMetrics),
    quotes: service(config.ports.quotesMetrics),
    search: service(config.ports.searchMetrics),
    ops: service(config.ports.opsMetrics),
    gateway: `http://${probeHost(config.gatewayMetricsHost)}:${config.ports.gatewayMetrics}`,
  });
}

/** `redis+sentinel://h1:26379,h2:26379/haddock`, to show which Sentinels the children ask; never a password. */
function sentinelUrl(config: RunnerConfig): string | undefined {
  if (config.redis?.mode !== 'sentinel') return undefined;
  const list = config.redis.sentinels.map(({ host, port }) => `${host}:${port}`).join(',');
  return `redis+sentinel://${list}/${config.redis.masterName}`;
}

/**
 * The platform, declared: one entry per child. Tier 0 is the private Redis,
 * tier 1 the services, tier 2 the gateway, tier 3 the alert sink, tier 4
 * Alertmanager, tier 5 Prometheus; a new child is one more entry with its
 * tier and probe.
 */
export function platformChildren(config: RunnerConfig, binaries: PlatformBinaries): ChildSpec[] {
  const { redisServer } = binaries;
  const urls = platformUrls(config, binaries);
  const logDir = join(config.varDir, 'log');
  const runDir = join(config.varDir, 'run');
  const env: Record<string, string | undefined> = {
    ...config.env,
    HOST: config.host,
    // Under Sentinel the children read REDIS_SENTINELS (passed through): a REDIS_URL beside it is refused.
    REDIS_URL: config.redis?.mode === 'sentinel' ? undefined : urls.redis,
    GATEWAY_PORT: String(config.ports.gateway),
    GATEWAY_METRICS_PORT: String(config.ports.gatewayMetrics),
    GATEWAY_METRICS_HOST: config.gatewayMetricsHost,
    METRICS_HOST: config.metricsHost,
    USERS_URL: urls.users,
    QUOTES_URL: urls.quotes,
    SEARCH_URL: urls.search,
    OPS_URL: urls.ops,
    HADDOCK_SUPERVISED: '1',
    ALERT_WEBHOOK_TOKEN: config.alertWebhookToken,
    HADDOCK_VAR_DIR: config.varDir,
    BACKUP_DIR: config.env.BACKUP_DIR ?? join(config.varDir, 'backups'),
    ...(urls.prometheus === undefined ? {} : { PROMETHEUS_URL: urls.prometheus }),
    QUOTES_SEED_FILE: config.quotesSeedFile,
    USERS_SEED_FILE: config.usersSeedFile,
    ALERT_SINK_PORT: String(config.ports.alertSink),
    ALERT_SINK_FILE: join(logDir, 'alerts.jsonl'),
  };
  const files = (name: string) => ({ logFile: join(logDir, `${name}.log`), pidFile: join(runDir, `${name}.pid`) });

  const node = (
    name: string,
    script: string,
    port: number,
    probePath: string,
    tier: number,
    {
      host = config.host,
      metricsPort,
      otherPorts = [],
    }: { host?: string; metricsPort?: number; otherPorts?: { port: number; host: string }[] } = {},
  ): ChildSpec => {
    const file = join(config.home, script);
    // A service's private metrics listener (METRICS_PORT) is checked free with its public port.
    const checked = metricsPort === undefined ? otherPorts : [{ port: metricsPort, host: config.metricsHost }, ...otherPorts];
    return {
      name,
      command: process.execPath,
      args: ['--import', 'tsx', file],
      // pino writes the JSON log itself, rotating it (LOG_FILE); the child's own stdout and stderr,
      // where a crash's trace lands, go to `<name>.out`.
      // LOG_STDOUT=false: the lines are in the rotating file already; `.out` keeps only what is not pino's.
      env: {
        ...env,
        PORT: String(port),
        ...(metricsPort === undefined ? {} : { METRICS_PORT: String(metricsPort) }),
        LOG_FILE: join(logDir, `${name}.log`),
        LOG_STDOUT: 'false',
      },
      cwd: config.home,
      ...files(name),
      logFile: join(logDir, `${name}.out`),
      identity: file,
      tier,
      probe: httpProbe(`http://${probeHost(host)}:${port}${probePath}`),
      prepare: async () => {
        await assertPortFree(host, port, name);
        for (const other of checked) await assertPortFree(other.host, other.port, `${name} metrics`);
      },
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
        '--maxmemory',
        config.redisMaxmemory,
        '--maxmemory-policy',
        'noeviction',
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
    node('users', 'src/services/users/server.ts', config.ports.users, '/users/health/live', 1, {
      metricsPort: config.ports.usersMetrics,
    }),
    node('quotes', 'src/services/quotes/server.ts', config.ports.quotes, '/quotes/health/live', 1, {
      metricsPort: config.ports.quotesMetrics,
    }),
    node('search', 'src/services/search/server.ts', config.ports.search, '/search/health/live', 1, {
      metricsPort: config.ports.searchMetrics,
    }),
    node('ops', 'src/services/ops/server.ts', config.ports.ops, '/ops/health/live', 1, {
      metricsPort: config.ports.opsMetrics,
    }),
    node('gateway', 'src/platform/gateway/server.ts', config.ports.gateway, '/apidocs/json', 2, {
      otherPorts: [{ port: config.ports.gatewayMetrics, host: config.gatewayMetricsHost }],
    }),
    node('alert-sink', 'src/platform/alert-sink/server.ts', config.ports.alertSink, '/alerts/health/live', 3, {
      host: '127.0.0.1',
    }),
    ...monitoringChildren(config, {
      binaries,
      targets: scrapeTargets(config, probeHost(config.metricsHost), probeHost(config.gatewayMetricsHost)),
      alertSinkUrl: urls.alertSink,
      opsUrl: urls.ops,
      files,
      alertmanagerTier: 4,
      prometheusTier: 5,
    }),
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
 * REDIS_URL or REDIS_SENTINELS is set), the three services, the gateway, the alert sink and,
 * by MONITORING, Alertmanager and Prometheus, each supervised and restarted
 * with backoff, and resolves once every one answers its probe.
 * On any failure, everything started is stopped before the promise rejects.
 */
export async function startPlatform(config: RunnerConfig, options: StartOptions = {}): Promise<PlatformHandle> {
  let redisServer: string | undefined;
  if (config.redis === undefined) {
    redisServer = findExecutable('redis-server', config.env.PATH);
    if (redisServer === undefined) throw new PlatformError(REDIS_MISSING_MESSAGE);
  }
  const { notice, ...monitoring } = resolveMonitoring(config);
  if (notice !== undefined) {
    try {
      options.onEvent?.({ type: 'notice', message: notice });
    } catch {
      // A broken reporter must not stop the start.
    }
  }
  const runDir = join(config.varDir, 'run');
  const paths = monitoringPaths(config.varDir);
  for (const dir of [join(config.varDir, 'log'), join(config.varDir, 'redis'), runDir, paths.dir]) {
    mkdirSync(dir, { recursive: true });
  }
  // Read the seed files now: a missing one is a clear message here, a crash loop later.
  for (const file of [config.quotesSeedFile, config.usersSeedFile]) {
    try {
      accessSync(file, constants.R_OK);
    } catch {
      throw new PlatformError(`seed file not readable: ${file}`);
    }
  }
  const unlock = lockVarDir(runDir, config.varDir);
  const binaries: PlatformBinaries = { redisServer, ...monitoring };
  const supervisor = new Supervisor(platformChildren(config, binaries), {
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
    urls: platformUrls(config, binaries),
    pids: () => supervisor.pids(),
    stopChild: (name) => supervisor.stopChild(name),
    startChild: (name) => supervisor.startChild(name),
    stop: () => {
      stopping ??= supervisor.stop().finally(unlock);
      return stopping;
    },
  };
}
