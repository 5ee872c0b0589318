// `npm run bench -- --scale` (or `npm run bench:scale`): the growth curve.
// For each catalogue size (1,000 / 10,000 / 100,000 / 1,000,000 by default) it
// writes a repeatable QUOTES_SEED_FILE (bench/scale/generate.ts), starts a
// private redis-server (no persistence, noeviction) and the four services as
// separate processes on it, times how long until every service answers
// `/<svc>/health/ready` (cold: seeding the file; then again after a restart
// with the data present), and loads each route directly (no gateway) with 10
// concurrent workers of its own (undici) into a microsecond histogram
// (hdr-histogram-js), next to the same-run floor (bench/floor-server.ts).
// At the largest size it also runs `haddock backup` and `haddock restore`
// while readers keep asking, and reads Redis's SLOWLOG. It prints tables and
// target checks (figures, never assertions) and writes
// bench/results/scale-<date>.json. Everything talks HTTP or RESP to real
// processes; nothing of the services is imported.
//
// Options: --sizes 1000,10000  --quick (1,000 and 10,000, 2 s per route)
//          --duration <s> (3)  --warmup <s> (0.5)  --connections <n> (10)
//          --ready-timeout <s> (180)  --no-backup  --out <file>  --seed <n>
import { type ChildProcess, fork, spawn, spawnSync } from 'node:child_process';
import { closeSync, openSync, readFileSync, rmSync } from 'node:fs';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import hdr from 'hdr-histogram-js';
import { Redis } from 'ioredis';
import { Pool } from 'undici';
import { freePorts } from '../src/lib/net/index.ts';
import {
  COMMON_WORD,
  DEFAULT_SEED,
  type GeneratedFile,
  mulberry32,
  NO_MATCH_WORD,
  RARE_QUERY,
  writeSeedFile,
} from './scale/generate.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SERVICES = ['users', 'quotes', 'search', 'ops'] as const;
type Service = (typeof SERVICES)[number];
const PREFIX = 'haddock:';
const ADMIN_KEY = 'scale-bench-admin-key-0123456789';
const COMMAND_TIMEOUT_MS = 500;
const WRITE_PROBE_TIMEOUT_MS = 5_000;

// ---------------------------------------------------------------- options

export interface ScaleOptions {
  readonly sizes: readonly number[];
  readonly durationMs: number;
  readonly warmupMs: number;
  readonly connections: number;
  readonly readyTimeoutMs: number;
  readonly backup: boolean;
  readonly out: string;
  readonly seed: number;
}

export function parseOptions(argv: readonly string[]): ScaleOptions {
  const value = (name: string): string | undefined => {
    const i = argv.indexOf(name);
    if (i < 0) return undefined;
    const v = argv[i + 1];
    if (v === undefined || v.startsWith('--')) throw new Error(`${name} needs a value`);
    return v;
  };
  const num = (name: string, fallback: number): number => {
    const raw = value(name);
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number, got ${raw}`);
    return n;
  };
  const quick = argv.includes('--quick');
  const sizesRaw = value('--sizes');
  const sizes = sizesRaw
    ? sizesRaw.split(',').map((s) => Number(s.replace(/_/g, '')))
    : quick
      ? [1_000, 10_000]
      : [1_000, 10_000, 100_000, 1_000_000];
  if (sizes.some((n) => !Number.isInteger(n) || n < 200)) throw new Error('--sizes: integers of at least 200');
  const date = new Date().toISOString().slice(0, 10);
  return {
    sizes: [...sizes].sort((a, b) => a - b),
    durationMs: num('--duration', quick ? 2 : 3) * 1000,
    warmupMs: num('--warmup', 0.5) * 1000,
    connections: Math.round(num('--connections', 10)),
    readyTimeoutMs: num('--ready-timeout', 180) * 1000,
    backup: !argv.includes('--no-backup'),
    out: value('--out') ?? join(ROOT, 'bench', 'results', `scale-${date}.json`),
    seed: num('--seed', DEFAULT_SEED),
  };
}

// ---------------------------------------------------------------- processes

const children = new Set<ChildProcess>();
const tempDirs = new Set<string>();

function cleanupSync(): void {
  for (const child of children) {
    try {
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
  children.clear();
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  tempDirs.clear();
}

let handlersInstalled = false;
function installHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on('exit', cleanupSync);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      console.error(`\nscale: ${signal}, stopping every child and removing temp dirs`);
      cleanupSync();
      process.exit(130);
    });
  }
}

function track(child: ChildProcess): ChildProcess {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

/** Spawns `command`, its stdout and stderr appended to `logFile`. */
function spawnLogged(command: string, args: string[], env: NodeJS.ProcessEnv, logFile: string): ChildProcess {
  const fd = openSync(logFile, 'a');
  try {
    return track(spawn(command, args, { env, cwd: ROOT, stdio: ['ignore', fd, fd] }));
  } finally {
    closeSync(fd);
  }
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

async function stop(child: ChildProcess | undefined, graceMs = 15_000): Promise<void> {
  if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited(child);
  clearTimeout(timer);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function tail(file: string, lines = 15): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

/** VmRSS and VmHWM (peak) of `pid`, in bytes; undefined when gone. */
function memoryOf(pid: number | undefined): { rss: number; peak: number } | undefined {
  if (pid === undefined) return undefined;
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN) * 1024;
    return { rss: kb('VmRSS'), peak: kb('VmHWM') };
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------- one platform

interface Platform {
  readonly dir: string;
  readonly redisUrl: string;
  readonly redis: Redis;
  readonly redisChild: ChildProcess;
  readonly ports: Record<Service, { port: number; metrics: number }>;
  readonly env: NodeJS.ProcessEnv;
  services: Partial<Record<Service, ChildProcess>>;
}

async function startRedis(dir: string, port: number): Promise<{ child: ChildProcess; redis: Redis; url: string }> {
  const child = spawnLogged(
    'redis-server',
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--dir',
      dir,
      '--save',
      '',
      '--appendonly',
      'no',
      '--maxmemory',
      '4gb',
      '--maxmemory-policy',
      'noeviction',
      '--protected-mode',
      'yes',
      '--daemonize',
      'no',
      '--slowlog-log-slower-than',
      '10000',
      '--slowlog-max-len',
      '4096',
    ],
    process.env,
    join(dir, 'redis.out'),
  );
  const url = `redis://127.0.0.1:${port}`;
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => 100 });
  redis.on('error', () => {});
  for (let i = 0; i < 100; i++) {
    try {
      if (redis.status === 'wait') await redis.connect();
      if ((await redis.ping()) === 'PONG') return { child, redis, url };
    } catch {
      // not yet
    }
    await sleep(50);
  }
  throw new Error(`redis-server did not answer on ${port}: ${tail(join(dir, 'redis.out'))}`);
}

async function startPlatform(root: string, seedFile: string): Promise<Platform> {
  const dir = join(root, 'platform');
  await mkdir(join(dir, 'backups'), { recursive: true });
  const free = await freePorts(SERVICES.length * 2 + 1);
  const redisPort = free.pop() as number;
  const ports = Object.fromEntries(
    SERVICES.map((s, i) => [s, { port: free[2 * i] as number, metrics: free[2 * i + 1] as number }]),
  ) as Record<Service, { port: number; metrics: number }>;
  const { child, redis, url } = await startRedis(dir, redisPort);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    NODE_ENV: 'development',
    HOST: '127.0.0.1',
    METRICS_HOST: '127.0.0.1',
    REDIS_URL: url,
    REDIS_KEY_PREFIX: PREFIX,
    QUOTES_SEED_FILE: seedFile,
    USERS_SEED_FILE: join(ROOT, 'data', 'initial_data_users.csv'),
    ADMIN_KEY,
    LOG_LEVEL: 'WARNING',
    HADDOCK_VAR_DIR: dir,
    BACKUP_DIR: join(dir, 'backups'),
    BACKUP_SCHEDULE_ENABLED: 'false',
    REDIS_SERVER_BIN: 'redis-server',
  };
  for (const name of ['REDIS_SENTINELS', 'REDIS_PASSWORD', 'REDIS_PASSWORD_FILE', 'LOG_FILE', 'PROMETHEUS_URL']) delete env[name];
  return { dir, redisUrl: url, redis, redisChild: child, ports, env, services: {} };
}

function startServices(p: Platform): void {
  for (const s of SERVICES) {
    const env = { ...p.env, PORT: String(p.ports[s].port), METRICS_PORT: String(p.ports[s].metrics) };
    p.services[s] = spawnLogged(
      process.execPath,
      ['--import', 'tsx', join(ROOT, 'src', 'services', s, 'server.ts')],
      env,
      join(p.dir, `${s}.out`),
    );
  }
}

async function stopServices(p: Platform): Promise<void> {
  await Promise.all(SERVICES.map((s) => stop(p.services[s])));
  p.services = {};
}

async function stopPlatform(p: Platform): Promise<void> {
  await stopServices(p);
  p.redis.disconnect();
  await stop(p.redisChild);
}

const origin = (p: Platform, s: Service) => `http://127.0.0.1:${p.ports[s].port}`;

interface Readiness {
  /** Milliseconds from start until every service answered 200 on /<svc>/health/ready; null if not within the timeout. */
  readonly allMs: number | null;
  readonly perServiceMs: Record<string, number | null>;
  readonly problem?: string;
}

async function waitReady(p: Platform, startedAt: number, timeoutMs: number): Promise<Readiness> {
  const per: Record<string, number | null> = Object.fromEntries(SERVICES.map((s) => [s, null]));
  const deadline = startedAt + timeoutMs;
  while (performance.now() < deadline) {
    await Promise.all(
      SERVICES.filter((s) => per[s] === null).map(async (s) => {
        const res = await fetch(`${origin(p, s)}/${s}/health/ready`, { signal: AbortSignal.timeout(2_000) }).catch(() => null);
        if (res === null) return;
        await res.arrayBuffer().catch(() => undefined);
        if (res.status === 200) per[s] = performance.now() - startedAt;
      }),
    );
    if (SERVICES.every((s) => per[s] !== null))
      return { allMs: Math.max(...SERVICES.map((s) => per[s] as number)), perServiceMs: per };
    const dead = SERVICES.find((s) => {
      const c = p.services[s];
      return c === undefined || c.exitCode !== null || c.signalCode !== null;
    });
    if (dead !== undefined) {
      return { allMs: null, perServiceMs: per, problem: `${dead} exited: ${tail(join(p.dir, `${dead}.out`), 8)}` };
    }
    await sleep(50);
  }
  const late = SERVICES.filter((s) => per[s] === null);
  return {
    allMs: null,
    perServiceMs: per,
    problem: `not ready within ${timeoutMs / 1000} s: ${late.join(', ')}; ${late.map((s) => `${s}: ${tail(join(p.dir, `${s}.out`), 5)}`).join('\n')}`,
  };
}

// ---------------------------------------------------------------- load

interface Histogram {
  recordValue(value: number): void;
  getValueAtPercentile(p: number): number;
  readonly maxValue: number;
  readonly totalCount: number;
  readonly mean: number;
  destroy(): void;
}

function histogram(): Histogram {
  return hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 600_000_000,
    numberOfSignificantValueDigits: 3,
    useWebAssembly: false,
  }) as unknown as Histogram;
}

const nowUs = () => Number(process.hrtime.bigint() / 1000n);

export interface Figures {
  readonly requests: number;
  readonly rps: number;
  readonly p50Us: number;
  readonly p99Us: number;
  readonly maxUs: number;
  readonly meanUs: number;
  readonly errors: number;
  readonly errorSamples: string[];
}

function figures(h: Histogram, elapsedMs: number, errors: number, samples: string[]): Figures {
  const out = {
    requests: h.totalCount,
    rps: elapsedMs > 0 ? (h.totalCount * 1000) / elapsedMs : 0,
    p50Us: h.totalCount ? h.getValueAtPercentile(50) : 0,
    p99Us: h.totalCount ? h.getValueAtPercentile(99) : 0,
    maxUs: h.totalCount ? h.maxValue : 0,
    meanUs: h.totalCount ? Math.round(h.mean) : 0,
    errors,
    errorSamples: samples,
  };
  h.destroy();
  return out;
}

interface Shot {
  readonly method: 'GET' | 'POST';
  readonly path: string;
  readonly headers?: Record<string, string>;
  readonly body?: string;
}

interface Answer {
  readonly status: number;
  readonly text: string;
  readonly us: number;
}

async function shoot(pool: Pool, shot: Shot): Promise<Answer> {
  const t0 = nowUs();
  const res = await pool.request({
    method: shot.method,
    path: shot.path,
    headers: shot.body === undefined ? shot.headers : { 'content-type': 'application/json', ...shot.headers },
    body: shot.body,
    headersTimeout: 30_000,
    bodyTimeout: 30_000,
  });
  const text = await res.body.text();
  return { status: res.statusCode, text, us: nowUs() - t0 };
}

/** `connections` workers sending `next()` for `durationMs` (after a warm-up not recorded). */
async function load(
  base: string,
  next: () => Shot,
  opts: { durationMs: number; warmupMs: number; connections: number },
): Promise<Figures> {
  const pool = new Pool(base, { connections: opts.connections, pipelining: 1 });
  let recording = false;
  let h = histogram();
  let errors = 0;
  const samples: string[] = [];
  let stopAt = performance.now() + opts.warmupMs;
  const worker = async () => {
    while (performance.now() < stopAt) {
      try {
        const a = await shoot(pool, next());
        if (!recording) continue;
        h.recordValue(Math.max(1, a.us));
        if (a.status < 200 || a.status >= 300) {
          errors++;
          if (samples.length < 3) samples.push(`${a.status} ${a.text.slice(0, 160)}`);
        }
      } catch (err) {
        if (recording) {
          errors++;
          if (samples.length < 3) samples.push((err as Error).message);
        }
        await sleep(1);
      }
    }
  };
  try {
    if (opts.warmupMs > 0) await Promise.all(Array.from({ length: opts.connections }, worker));
    h.destroy();
    h = histogram();
    recording = true;
    const started = performance.now();
    stopAt = started + opts.durationMs;
    await Promise.all(Array.from({ length: opts.connections }, worker));
    return figures(h, performance.now() - started, errors, samples);
  } finally {
    await pool.close().catch(() => undefined);
  }
}

// ---------------------------------------------------------------- the routes

interface RouteResult extends Figures {
  readonly route: string;
  readonly service: string;
  /** What a first request answered, checked against the catalogue: "ok", or what differed. */
  readonly check: string;
}

interface WriteProbe {
  readonly post: Figures;
  /** Time from the POST's answer until a search returned the new text (µs). */
  readonly visible: Omit<Figures, 'rps'> & { readonly notFoundWithin5s: number };
  /** Every search sent while waiting for the new text: the first search after a write. */
  readonly searchAfterWrite: Figures;
}

interface SizeResult {
  readonly n: number;
  readonly file: GeneratedFile;
  readonly generateMs: number;
  readonly readyCold: Readiness;
  readyRestart?: Readiness;
  redis?: {
    readonly usedMemoryEmpty: number;
    readonly usedMemory: number;
    readonly usedMemoryPeak: number;
    readonly keys: number;
    readonly bytesPerQuote: number;
    slowlogMaxUs?: number;
    slowlogMaxCommand?: string;
  };
  readonly rss: Record<string, Record<string, { rss: number; peak: number } | undefined>>;
  floor?: Figures;
  /** How long the platform took to go idle after it was ready, before the first measurement. */
  settleMs?: number;
  routes: RouteResult[];
  writeProbe?: WriteProbe;
  backupRestore?: BackupRestore;
  problem?: string;
}

async function redisMemory(redis: Redis): Promise<{ used: number; peak: number }> {
  const info = await redis.info('memory');
  const field = (name: string) => Number(new RegExp(`^${name}:(\\d+)`, 'm').exec(info)?.[1] ?? Number.NaN);
  return { used: field('used_memory'), peak: field('used_memory_peak') };
}

async function slowlogMax(redis: Redis): Promise<{ us: number; command: string }> {
  const entries = (await redis.call('SLOWLOG', 'GET', '4096')) as [number, number, number, string[]][];
  let best = { us: 0, command: '' };
  for (const [, , us, args] of entries) {
    if (us > best.us) best = { us, command: args.slice(0, 3).join(' ').replace(/\s+/g, ' ').slice(0, 80) };
  }
  return best;
}

/** CPU seconds (user + system) a process has used, from /proc/<pid>/stat; 0 when it is gone. */
function cpuSeconds(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
}

/**
 * Waits until the platform is idle (the services and Redis together under 10 % of one core over half a second),
 * at most `capMs`: a service answers ready once it can serve, while it may still be collecting the garbage of a
 * large start; measuring then measures that, not the route. Returns how long it waited.
 */
async function waitIdle(p: Platform, capMs = 60_000): Promise<number> {
  const started = performance.now();
  const pids = [...SERVICES.map((s) => p.services[s]?.pid), p.redisChild.pid];
  const total = () => pids.reduce<number>((sum, pid) => sum + cpuSeconds(pid), 0);
  for (;;) {
    const before = total();
    await new Promise((resolve) => setTimeout(resolve, 500));
    if (total() - before < 0.05 || performance.now() - started > capMs) return performance.now() - started;
  }
}

function rssAll(p: Platform): Record<string, { rss: number; peak: number } | undefined> {
  return Object.fromEntries(SERVICES.map((s) => [s, memoryOf(p.services[s]?.pid)]));
}

async function login(p: Platform): Promise<{ token: string; userId: string }> {
  const res = await fetch(`${origin(p, 'users')}/users/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'Alice', password: 'inWonderland' }),
  });
  if (res.status !== 200) throw new Error(`login answered ${res.status}: ${await res.text()}`);
  const body = (await res.json()) as { token: string; user_id: string };
  return { token: body.token, userId: body.user_id };
}

async function measureRoutes(
  p: Platform,
  n: number,
  file: GeneratedFile,
  opts: ScaleOptions,
  auth: { token: string; userId: string },
): Promise<RouteResult[]> {
  const rand = mulberry32(opts.seed ^ n);
  const authH = { authorization: auth.token };
  const mid = Math.floor(n / 2);
  const end = Math.max(0, n - 100);
  const parse = (t: string): unknown => {
    try {
      return JSON.parse(t);
    } catch {
      return undefined;
    }
  };
  const isArrayOf = (len: number) => (t: string) => {
    const v = parse(t);
    return Array.isArray(v) && v.length === len
      ? 'ok'
      : `expected ${len} items, got ${Array.isArray(v) ? v.length : t.slice(0, 80)}`;
  };
  const cases: { route: string; service: Service; next: () => Shot; check?: (t: string) => string }[] = [
    { route: 'GET /quotes/random', service: 'quotes', next: () => ({ method: 'GET', path: '/quotes/random' }) },
    {
      route: 'GET /quotes/:id',
      service: 'quotes',
      next: () => ({ method: 'GET', path: `/quotes/${1 + (rand() % n)}` }),
    },
    {
      route: 'GET /quotes?limit=100 (offset 0)',
      service: 'quotes',
      next: () => ({ method: 'GET', path: '/quotes?limit=100&offset=0' }),
      check: isArrayOf(100),
    },
    {
      route: 'GET /quotes?limit=100 (middle)',
      service: 'quotes',
      next: () => ({ method: 'GET', path: `/quotes?limit=100&offset=${mid}` }),
      check: isArrayOf(100),
    },
    {
      route: 'GET /quotes?limit=100 (end)',
      service: 'quotes',
      next: () => ({ method: 'GET', path: `/quotes?limit=100&offset=${end}` }),
      check: isArrayOf(Math.min(100, n)),
    },
    {
      route: `GET /search rare (${RARE_QUERY})`,
      service: 'search',
      next: () => ({ method: 'GET', path: `/search?keyword=${RARE_QUERY}`, headers: authH }),
      check: isArrayOf(file.planted.rare),
    },
    {
      route: `GET /search common (${COMMON_WORD}, limit 20)`,
      service: 'search',
      next: () => ({ method: 'GET', path: `/search?keyword=${COMMON_WORD}&limit=20`, headers: authH }),
      check: isArrayOf(Math.min(20, file.planted.common)),
    },
    {
      route: `GET /search no match (${NO_MATCH_WORD})`,
      service: 'search',
      next: () => ({ method: 'GET', path: `/search?keyword=${NO_MATCH_WORD}`, headers: authH }),
      check: isArrayOf(0),
    },
    {
      route: 'POST /users/login',
      service: 'users',
      next: () => ({ method: 'POST', path: '/users/login', body: JSON.stringify({ name: 'Alice', password: 'inWonderland' }) }),
    },
  ];
  const results: RouteResult[] = [];
  for (const c of cases) {
    const pool = new Pool(origin(p, c.service), { connections: 1 });
    let check = 'ok';
    try {
      const first = await shoot(pool, c.next());
      if (first.status < 200 || first.status >= 300) check = `status ${first.status}: ${first.text.slice(0, 100)}`;
      else if (c.check) check = c.check(first.text);
    } catch (err) {
      check = (err as Error).message;
    } finally {
      await pool.close().catch(() => undefined);
    }
    const f = await load(origin(p, c.service), c.next, opts);
    results.push({ route: c.route, service: c.service, check, ...f });
    process.stdout.write('.');
  }
  return results;
}

/** POST /quotes, then a search every 1 ms until the new text is found (up to 5 s), `connections` at a time. */
async function writeProbe(p: Platform, opts: ScaleOptions, auth: { token: string; userId: string }): Promise<WriteProbe> {
  const quotesPool = new Pool(origin(p, 'quotes'), { connections: opts.connections });
  const searchPool = new Pool(origin(p, 'search'), { connections: opts.connections });
  const post = histogram();
  const visible = histogram();
  const searches = histogram();
  let postErrors = 0;
  let searchErrors = 0;
  let notFound = 0;
  const postSamples: string[] = [];
  const searchSamples: string[] = [];
  const tag = Date.now().toString(36);
  let counter = 0;
  const started = performance.now();
  const stopAt = started + opts.durationMs;
  const worker = async () => {
    while (performance.now() < stopAt) {
      const token = `sonde${tag}x${String(counter++).padStart(7, '0')}y`;
      const text = `Mille sabords ${token}`;
      let answer: Answer;
      try {
        answer = await shoot(quotesPool, {
          method: 'POST',
          path: '/quotes',
          headers: { authorization: auth.token },
          body: JSON.stringify({ user_id: auth.userId, quote: text }),
        });
      } catch (err) {
        postErrors++;
        if (postSamples.length < 3) postSamples.push((err as Error).message);
        await sleep(1);
        continue;
      }
      post.recordValue(Math.max(1, answer.us));
      if (answer.status !== 201) {
        postErrors++;
        if (postSamples.length < 3) postSamples.push(`${answer.status} ${answer.text.slice(0, 160)}`);
        continue;
      }
      const written = nowUs();
      for (;;) {
        try {
          const s = await shoot(searchPool, {
            method: 'GET',
            path: `/search?keyword=${token}`,
            headers: { authorization: auth.token },
          });
          searches.recordValue(Math.max(1, s.us));
          if (s.status !== 200) {
            searchErrors++;
            if (searchSamples.length < 3) searchSamples.push(`${s.status} ${s.text.slice(0, 160)}`);
          } else if (s.text.includes(token)) {
            visible.recordValue(Math.max(1, nowUs() - written));
            break;
          }
        } catch (err) {
          searchErrors++;
          if (searchSamples.length < 3) searchSamples.push((err as Error).message);
        }
        if (nowUs() - written > WRITE_PROBE_TIMEOUT_MS * 1000) {
          notFound++;
          break;
        }
        await sleep(1);
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: opts.connections }, worker));
    const elapsed = performance.now() - started;
    const { rps: _rps, ...visibleFigures } = figures(visible, elapsed, notFound, []);
    return {
      post: figures(post, elapsed, postErrors, postSamples),
      visible: { ...visibleFigures, notFoundWithin5s: notFound },
      searchAfterWrite: figures(searches, elapsed, searchErrors, searchSamples),
    };
  } finally {
    await Promise.all([quotesPool.close(), searchPool.close()]).catch(() => undefined);
  }
}

// ---------------------------------------------------------------- backup and restore under reads

interface Reader {
  readonly stop: () => Promise<void>;
  /** Closes the current window and opens the next: figures of what was read since the last cut. */
  readonly cut: () => Figures;
}

function startReaders(p: Platform, n: number, token: string): Reader {
  const pools = [new Pool(origin(p, 'quotes'), { connections: 1 }), new Pool(origin(p, 'search'), { connections: 1 })];
  const rand = mulberry32(n);
  let running = true;
  let h = histogram();
  let errors = 0;
  let samples: string[] = [];
  let windowStart = performance.now();
  const loop = async (i: number) => {
    while (running) {
      const shot: Shot =
        i === 0
          ? { method: 'GET', path: `/quotes/${1 + (rand() % n)}` }
          : { method: 'GET', path: `/search?keyword=${RARE_QUERY}`, headers: { authorization: token } };
      try {
        const a = await shoot(pools[i] as Pool, shot);
        h.recordValue(Math.max(1, a.us));
        if (a.status !== 200) {
          errors++;
          if (samples.length < 3) samples.push(`${shot.path} ${a.status} ${a.text.slice(0, 120)}`);
        }
      } catch (err) {
        errors++;
        if (samples.length < 3) samples.push(`${shot.path} ${(err as Error).message}`);
      }
      await sleep(2);
    }
  };
  const loops = [loop(0), loop(1)];
  return {
    cut: () => {
      const f = figures(h, performance.now() - windowStart, errors, samples);
      h = histogram();
      errors = 0;
      samples = [];
      windowStart = performance.now();
      return f;
    },
    stop: async () => {
      running = false;
      await Promise.all(loops);
      h.destroy();
      await Promise.all(pools.map((pool) => pool.close())).catch(() => undefined);
    },
  };
}

async function runCli(
  p: Platform,
  args: string[],
  name: string,
  timeoutMs = 600_000,
): Promise<{ code: number | null; ms: number; out: string }> {
  const log = join(p.dir, `cli-${name}.out`);
  const started = performance.now();
  const child = spawnLogged(process.execPath, [join(ROOT, 'bin', 'haddock.mjs'), ...args], p.env, log);
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  await exited(child);
  clearTimeout(timer);
  return { code: child.exitCode, ms: performance.now() - started, out: tail(log, 6).replace(/\s+/g, ' ').slice(0, 300) };
}

interface BackupRestore {
  readonly backup: { code: number | null; ms: number; out: string };
  readonly restore: { code: number | null; ms: number; out: string };
  readonly readers: Record<'before' | 'duringBackup' | 'duringRestore' | 'afterRestore', Figures>;
  readonly readyAfterRestoreMs: number | null;
  readonly searchAfterRestore: string;
  readonly slowlogMaxUs: number;
  readonly slowlogMaxCommand: string;
  readonly commandTimeoutMs: number;
}

async function backupRestore(p: Platform, n: number, token: string, opts: ScaleOptions): Promise<BackupRestore> {
  await p.redis.call('SLOWLOG', 'RESET');
  const readers = startReaders(p, n, token);
  await sleep(500);
  const before = readers.cut();
  const backup = await runCli(p, ['backup', '--no-verify', '--json'], 'backup');
  const duringBackup = readers.cut();
  const restore = await runCli(p, ['restore', 'latest', '--yes', '--json'], 'restore');
  const duringRestore = readers.cut();
  // Reads keep going while the services take the restored catalogue in (if they rebuild).
  const readyStart = performance.now();
  const after = await waitReady(p, readyStart, opts.readyTimeoutMs);
  await sleep(1_000);
  const afterRestore = readers.cut();
  await readers.stop();
  const slow = await slowlogMax(p.redis);
  const searchAfter = await fetch(`${origin(p, 'search')}/search?keyword=${RARE_QUERY}`, {
    headers: { authorization: token },
  }).then(
    async (r) => `${r.status} ${(await r.text()).slice(0, 60)}`,
    (err: Error) => err.message,
  );
  return {
    backup,
    restore,
    readers: { before, duringBackup, duringRestore, afterRestore },
    readyAfterRestoreMs: after.allMs,
    searchAfterRestore: searchAfter,
    slowlogMaxUs: slow.us,
    slowlogMaxCommand: slow.command,
    commandTimeoutMs: COMMAND_TIMEOUT_MS,
  };
}

// ---------------------------------------------------------------- one size

async function runSize(n: number, opts: ScaleOptions, largest: boolean, floorScript: string): Promise<SizeResult> {
  const root = await mkdtemp(join(tmpdir(), `haddock-scale-${n}-`));
  tempDirs.add(root);
  const genStart = performance.now();
  const file = await writeSeedFile(join(root, `quotes-${n}.csv`), n, opts.seed);
  const generateMs = performance.now() - genStart;
  const p = await startPlatform(root, file.path);
  let floor: ChildProcess | undefined;
  const rss: SizeResult['rss'] = {};
  try {
    const empty = await redisMemory(p.redis);
    const t0 = performance.now();
    startServices(p);
    const readyCold = await waitReady(p, t0, opts.readyTimeoutMs);
    const result: SizeResult = { n, file, generateMs, readyCold, rss, routes: [] };
    rss.afterColdReady = rssAll(p);
    const mem = await redisMemory(p.redis);
    const keys = await p.redis.dbsize();
    result.redis = {
      usedMemoryEmpty: empty.used,
      usedMemory: mem.used,
      usedMemoryPeak: mem.peak,
      keys,
      bytesPerQuote: Math.round((mem.used - empty.used) / n),
    };
    if (readyCold.allMs === null) {
      result.problem = `cold start: ${readyCold.problem}`;
      return result;
    }
    const floorPort = (await freePorts(1))[0] as number;
    floor = track(fork(floorScript, [String(floorPort), p.redisUrl], { execArgv: ['--import', 'tsx'], stdio: 'ignore' }));
    await new Promise<void>((resolve, reject) => {
      floor?.once('message', () => resolve());
      floor?.once('exit', (code) => reject(new Error(`floor server exited with ${code}`)));
    });
    const auth = await login(p);
    result.settleMs = await waitIdle(p);
    process.stdout.write(`  ${n}: idle after ${secs(result.settleMs)}; loading routes `);
    result.floor = await load(`http://127.0.0.1:${floorPort}`, () => ({ method: 'GET', path: '/' }), opts);
    result.routes = await measureRoutes(p, n, file, opts, auth);
    result.writeProbe = await writeProbe(p, opts, auth);
    console.log(' done');
    rss.afterLoad = rssAll(p);
    const slow = await slowlogMax(p.redis);
    result.redis.slowlogMaxUs = slow.us;
    result.redis.slowlogMaxCommand = slow.command;
    await stop(floor);
    // Restart with the data present.
    await stopServices(p);
    const t1 = performance.now();
    startServices(p);
    result.readyRestart = await waitReady(p, t1, opts.readyTimeoutMs);
    rss.afterRestart = rssAll(p);
    if (result.readyRestart.allMs === null) result.problem = `restart: ${result.readyRestart.problem}`;
    else if (largest && opts.backup) {
      process.stdout.write(`  ${n}: backup and restore under reads…`);
      result.backupRestore = await backupRestore(p, n, (await login(p)).token, opts);
      console.log(' done');
    }
    return result;
  } finally {
    await stop(floor);
    await stopPlatform(p);
    rmSync(root, { recursive: true, force: true });
    tempDirs.delete(root);
  }
}

// ---------------------------------------------------------------- output

function table(header: readonly string[], lines: readonly (readonly string[])[]): void {
  const all = [header, ...lines];
  const widths = header.map((_, i) => Math.max(...all.map((l) => (l[i] ?? '').length)));
  for (const line of all) {
    console.log(
      line
        .map((cell, i) => (i === 0 || i === line.length - 1 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0)))
        .join('  ')
        .trimEnd(),
    );
  }
}

const fmt = (n: number | undefined | null, digits = 0) =>
  n === undefined || n === null || Number.isNaN(n) ? '–' : n.toFixed(digits);
const mb = (bytes: number | undefined) => (bytes === undefined ? '–' : (bytes / 1_048_576).toFixed(0));
const secs = (ms: number | null | undefined) => (ms === null || ms === undefined ? 'not ready' : `${(ms / 1000).toFixed(1)} s`);

function printSize(r: SizeResult): void {
  console.log(
    `\n${r.n.toLocaleString('en')} quotes (file ${(r.file.bytes / 1_048_576).toFixed(1)} MB, generated in ${fmt(r.generateMs)} ms; ` +
      `planted: rare ${r.file.planted.rare}, common ${r.file.planted.common})`,
  );
  console.log(
    `  ready: cold ${secs(r.readyCold.allMs)} (${SERVICES.map((s) => `${s} ${secs(r.readyCold.perServiceMs[s])}`).join(', ')}); ` +
      `after restart ${secs(r.readyRestart?.allMs)}`,
  );
  if (r.redis) {
    console.log(
      `  redis: used_memory ${mb(r.redis.usedMemory)} MB after seeding (empty ${mb(r.redis.usedMemoryEmpty)} MB, peak ${mb(r.redis.usedMemoryPeak)} MB), ` +
        `${r.redis.keys} keys, ${r.redis.bytesPerQuote} bytes/quote; SLOWLOG max ${fmt((r.redis.slowlogMaxUs ?? 0) / 1000, 1)} ms ${r.redis.slowlogMaxCommand ?? ''}`,
    );
  }
  for (const [when, set] of Object.entries(r.rss)) {
    console.log(`  rss ${when} (MB, peak): ${SERVICES.map((s) => `${s} ${mb(set[s]?.rss)} (${mb(set[s]?.peak)})`).join(', ')}`);
  }
  if (r.problem) console.log(`  PROBLEM: ${r.problem}`);
  if (!r.floor) return;
  const floorRps = r.floor.rps;
  const row = (name: string, f: Figures, check = '') => [
    name,
    fmt(f.rps),
    fmt(f.p50Us),
    fmt(f.p99Us),
    fmt(f.maxUs),
    String(f.errors),
    floorRps > 0 ? (f.rps / floorRps).toFixed(2) : '–',
    check,
  ];
  const lines = [row('floor: node:http + 1 Redis GET', r.floor), ...r.routes.map((x) => row(x.route, x, x.check))];
  if (r.writeProbe) {
    const w = r.writeProbe;
    lines.push(row('POST /quotes (then search)', w.post));
    lines.push(row('  first searches after a write', w.searchAfterWrite));
    lines.push([
      '  write → visible in search',
      '',
      fmt(w.visible.p50Us),
      fmt(w.visible.p99Us),
      fmt(w.visible.maxUs),
      String(w.visible.notFoundWithin5s),
      '',
      `${w.visible.requests} writes seen`,
    ]);
  }
  table(['route (direct)', 'req/s', 'p50 µs', 'p99 µs', 'max µs', 'errors', 'to floor', 'check'], lines);
  for (const x of [...r.routes, ...(r.writeProbe ? [r.writeProbe.post, r.writeProbe.searchAfterWrite] : [])]) {
    if (x.errorSamples.length > 0) console.log(`  errors${'route' in x ? ` of ${x.route}` : ''}: ${x.errorSamples.join(' | ')}`);
  }
  const br = r.backupRestore;
  if (br) {
    console.log(
      `  backup (CLI, --no-verify): exit ${br.backup.code} in ${secs(br.backup.ms)}; restore --yes: exit ${br.restore.code} in ${secs(br.restore.ms)}; ` +
        `ready after restore ${secs(br.readyAfterRestoreMs)}; search after restore: ${br.searchAfterRestore}; ` +
        `SLOWLOG max ${fmt(br.slowlogMaxUs / 1000, 1)} ms (${br.slowlogMaxCommand})`,
    );
    table(
      ['readers (/quotes/:id + /search)', 'req/s', 'p50 µs', 'p99 µs', 'max µs', 'errors', 'samples'],
      Object.entries(br.readers).map(([when, f]) => [
        when,
        fmt(f.rps),
        fmt(f.p50Us),
        fmt(f.p99Us),
        fmt(f.maxUs),
        String(f.errors),
        f.errorSamples.join(' | ').slice(0, 120),
      ]),
    );
  }
}

interface Check {
  readonly check: string;
  readonly figure: string;
  readonly target: string;
  readonly met: boolean | null;
}

function checks(results: readonly SizeResult[]): Check[] {
  const out: Check[] = [];
  const measured = results.filter((r) => r.floor !== undefined);
  const verdict = (met: boolean | null) => met;
  for (const r of results) {
    const errs =
      r.routes.reduce((a, x) => a + x.errors, 0) +
      (r.writeProbe
        ? r.writeProbe.post.errors + r.writeProbe.searchAfterWrite.errors + r.writeProbe.visible.notFoundWithin5s
        : 0);
    out.push({
      check: `errors at ${r.n}`,
      figure: r.floor ? String(errs) : 'not measured',
      target: '0',
      met: r.floor ? errs === 0 : false,
    });
    const start = r.routes.find((x) => x.route.includes('(offset 0)'));
    const end = r.routes.find((x) => x.route.includes('(end)'));
    if (start && end) {
      const ratio = end.p99Us / Math.max(1, start.p99Us);
      out.push({
        check: `pagination p99 end / start at ${r.n}`,
        figure: `${ratio.toFixed(2)} (${fmt(end.p99Us)} / ${fmt(start.p99Us)} µs)`,
        target: '≤ 1.5 or within 1 ms',
        met: verdict(ratio <= 1.5 || end.p99Us - start.p99Us <= 1_000),
      });
    }
  }
  const small = measured[0];
  const large = measured[measured.length - 1];
  if (small && large && small !== large) {
    const pairs: [string, Figures, Figures | undefined][] = large.routes.map((x) => [
      x.route,
      x,
      small.routes.find((y) => y.route === x.route),
    ]);
    if (large.writeProbe && small.writeProbe) pairs.push(['POST /quotes', large.writeProbe.post, small.writeProbe.post]);
    for (const [route, l, s] of pairs) {
      if (!s) continue;
      const ratio = l.p99Us / Math.max(1, s.p99Us);
      out.push({
        check: `${route} p99 at ${large.n} / at ${small.n}`,
        figure: `${ratio.toFixed(2)} (${fmt(l.p99Us)} / ${fmt(s.p99Us)} µs)`,
        target: '≤ 3 or within 2 ms',
        met: ratio <= 3 || l.p99Us - s.p99Us <= 2_000,
      });
    }
  }
  if (large) {
    const search = large.routes.filter((x) => x.route.startsWith('GET /search'));
    const after = large.writeProbe?.searchAfterWrite;
    for (const [name, f] of [
      ...search.map((x) => [x.route, x] as const),
      ...(after ? [['first searches after a write', after] as const] : []),
    ]) {
      out.push({
        check: `${name} p99 at ${large.n}`,
        figure: `${fmt(f.p99Us / 1000, 1)} ms`,
        target: '< 100 ms (at 1,000,000)',
        met: f.p99Us < 100_000,
      });
    }
    if (large.writeProbe) {
      out.push({
        check: `write → visible in search p99 at ${large.n}`,
        figure: `${fmt(large.writeProbe.visible.p99Us / 1000, 1)} ms (${large.writeProbe.visible.notFoundWithin5s} not within 5 s)`,
        target: '< 100 ms (at 1,000,000)',
        met: large.writeProbe.visible.p99Us < 100_000 && large.writeProbe.visible.notFoundWithin5s === 0,
      });
    }
  }
  const top = results[results.length - 1];
  if (top) {
    out.push({
      check: `ready, cold (seeding ${top.n})`,
      figure: `${secs(top.readyCold.allMs)} (${((top.readyCold.allMs ?? Number.POSITIVE_INFINITY) / 60_000).toFixed(2)} of 60 s)`,
      target: '≤ 60 s (at 1,000,000)',
      met: top.readyCold.allMs !== null && top.readyCold.allMs <= 60_000,
    });
    out.push({
      check: `ready after restart (${top.n} present)`,
      figure: `${secs(top.readyRestart?.allMs)} (${((top.readyRestart?.allMs ?? Number.POSITIVE_INFINITY) / 30_000).toFixed(2)} of 30 s)`,
      target: '≤ 30 s (at 1,000,000)',
      met: top.readyRestart?.allMs !== null && top.readyRestart?.allMs !== undefined && top.readyRestart.allMs <= 30_000,
    });
    const peaks = SERVICES.map((s) => Math.max(...Object.values(top.rss).map((set) => set[s]?.peak ?? 0)));
    out.push({
      check: `service peak RSS at ${top.n} (${SERVICES.join('/')})`,
      figure: `${peaks.map((b) => mb(b)).join(' / ')} MB`,
      target: '< 300 MB each (at 1,000,000)',
      met: peaks.every((b) => b > 0 && b < 300 * 1_048_576),
    });
    if (top.redis) {
      out.push({
        check: `Redis used_memory at ${top.n}`,
        figure: `${mb(top.redis.usedMemory)} MB, ${top.redis.bytesPerQuote} bytes/quote`,
        target: '< 350 MB (at 1,000,000)',
        met: top.redis.usedMemory < 350 * 1_048_576,
      });
    }
    const br = top.backupRestore;
    if (br) {
      const during = [br.readers.duringBackup, br.readers.duringRestore, br.readers.afterRestore].filter(
        (f): f is Figures => f !== undefined,
      );
      const errs = during.reduce((a, f) => a + f.errors, 0);
      const max = Math.max(...during.map((f) => f.maxUs));
      out.push({
        check: `backup + restore at ${top.n}: SLOWLOG max`,
        figure: `${fmt(br.slowlogMaxUs / 1000, 1)} ms (backup exit ${br.backup.code}, restore exit ${br.restore.code})`,
        target: `< ${COMMAND_TIMEOUT_MS} ms`,
        met: br.slowlogMaxUs < COMMAND_TIMEOUT_MS * 1000 && br.backup.code === 0 && br.restore.code === 0,
      });
      out.push({
        check: `backup + restore at ${top.n}: reader errors, max latency`,
        figure: `${errs} errors, max ${fmt(max / 1000, 1)} ms`,
        target: '0 errors',
        met: errs === 0,
      });
    }
  }
  return out;
}

// ---------------------------------------------------------------- main

export async function main(argv: readonly string[]): Promise<number> {
  installHandlers();
  let opts: ScaleOptions;
  try {
    opts = parseOptions(argv);
  } catch (err) {
    console.error(`scale: ${(err as Error).message}`);
    return 2;
  }
  const floorScript = fileURLToPath(new URL('./floor-server.ts', import.meta.url));
  // The services run from the working tree: say whether it differs from the commit measured.
  const git = (args: string[]) => spawnSync('git', args, { cwd: ROOT, encoding: 'utf8' }).stdout?.trim() ?? '';
  const dirty = git(['status', '--porcelain', '--untracked-files=no', '--', 'src']).split('\n').filter(Boolean).length;
  const commit = `${git(['rev-parse', 'HEAD']) || 'unknown'}${dirty > 0 ? ` + uncommitted changes in ${dirty} file(s) under src/` : ''}`;

  console.log(
    `scale: sizes ${opts.sizes.join(', ')}; ${opts.durationMs / 1000} s per route after ${opts.warmupMs / 1000} s warm-up, ` +
      `${opts.connections} connections, direct to each service; node ${process.version}, ${cpus().length} cores; commit ${commit.slice(0, 12)}${commit.slice(40)}`,
  );
  const started = performance.now();
  const results: SizeResult[] = [];
  for (const n of opts.sizes) {
    const r = await runSize(n, opts, n === opts.sizes[opts.sizes.length - 1], floorScript);
    results.push(r);
    printSize(r);
  }
  const list = checks(results);
  console.log('\ntarget checks (figures, not assertions; the targets are stated for 1,000,000 quotes at 10 connections)');
  table(
    ['check', 'figure', 'target', 'verdict'],
    list.map((c) => [c.check, c.figure, c.target, c.met === null ? '–' : c.met ? 'met' : 'NOT met']),
  );
  await mkdir(join(opts.out, '..'), { recursive: true });
  await writeFile(
    opts.out,
    `${JSON.stringify(
      {
        date: new Date().toISOString(),
        commit,
        node: process.version,
        cores: cpus().length,
        options: { ...opts, out: undefined },
        totalSeconds: Math.round((performance.now() - started) / 1000),
        sizes: results,
        checks: list,
      },
      null,
      2,
    )}\n`,
  );
  console.log(`\nwrote ${opts.out} (${Math.round((performance.now() - started) / 1000)} s in all)`);
  return 0;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2).filter((a) => a !== '--scale')).then(
    (code) => process.exit(code),
    (err: unknown) => {
      console.error(err);
      cleanupSync();
      process.exit(1);
    },
  );
}
