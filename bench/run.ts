// `npm run bench`: loads each main route with autocannon, directly and through
// the gateway, next to a floor measured in the same run (a bare node:http
// server doing one Redis GET per request), BENCH_RUNS times (3 by default),
// then prints every run and the medians with two ratios: direct to the floor,
// and gateway to direct. It asserts nothing about time. Everything runs on
// loopback, bounded in time.
//
// BENCH_INSTRUMENTATION=off starts the services and the gateway without their
// per-request metrics and log line (HTTP_INSTRUMENTATION=false), to show what
// the instrumentation costs; never a production setting.
import { fork } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { Redis } from 'ioredis';
import { freePorts } from '../src/lib/net/index.ts';
import { loadConfig } from '../src/platform/runner/config.ts';
import { startPlatform } from '../src/platform/runner/index.ts';
import { QuoteStore } from '../src/services/quotes/quote-store.ts';

// `npm run bench -- --scale [options]`: the growth curve (bench/scale.ts) instead of this bench.
if (process.argv.includes('--scale')) {
  const { main } = await import('./scale.ts');
  process.exit(await main(process.argv.slice(2).filter((arg) => arg !== '--scale')));
}

const DURATION_S = Number(process.env.BENCH_DURATION_S ?? 5);
const CONNECTIONS = 10;
const LARGE_CATALOGUE = 100_000;

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const INSTRUMENTED = process.env.BENCH_INSTRUMENTATION !== 'off';

interface Figures {
  readonly rps: number;
  readonly p50: number;
  readonly p99: number;
  readonly errors: number;
}

interface Case {
  readonly name: string;
  readonly path: string;
  readonly base: 'quotes' | 'search';
  /** Least share of the floor's throughput the direct route must reach. */
  readonly directTarget?: number;
  /** Least share of the direct throughput the same route must keep through the gateway. */
  readonly gatewayTarget?: number;
  readonly auth?: boolean;
}

const CASES: readonly Case[] = [
  { name: 'GET /quotes/random', path: '/quotes/random', base: 'quotes', directTarget: 0.6, gatewayTarget: 0.45 },
  { name: 'GET /quotes/:id', path: '/quotes/48', base: 'quotes', directTarget: 0.6, gatewayTarget: 0.45 },
  { name: 'GET /quotes (415)', path: '/quotes', base: 'quotes', gatewayTarget: 0.45 },
  { name: 'GET /search (415)', path: '/search?keyword=tonnerre', base: 'search', auth: true },
];

async function load(url: string, headers: Record<string, string> = {}): Promise<Figures> {
  // A short warm-up so JIT and connection set-up are not in the figures.
  await autocannon({ url, connections: CONNECTIONS, duration: 1, headers });
  const result = await autocannon({ url, connections: CONNECTIONS, duration: DURATION_S, headers });
  return {
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.errors + result.timeouts + result.non2xx,
  };
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

function table(header: readonly string[], lines: readonly (readonly string[])[]): void {
  const all = [header, ...lines];
  const widths = header.map((_, i) => Math.max(...all.map((l) => (l[i] ?? '').length)));
  for (const line of all) {
    console.log(
      line
        .map((cell, i) => cell.padEnd(widths[i] ?? 0))
        .join('  ')
        .trimEnd(),
    );
  }
}

/** One run: the floor, then each case directly and through the gateway. */
interface Run {
  readonly floor: Figures;
  readonly direct: ReadonlyMap<string, Figures>;
  readonly gateway: ReadonlyMap<string, Figures>;
}

function printRun(run: Run, label: string): void {
  console.log(`\n${label}`);
  const ratio = (a: number, b: number) => (b > 0 ? (a / b).toFixed(2) : '–');
  const row = (name: string, via: string, f: Figures, toDirect: string) => [
    name,
    via,
    f.rps.toFixed(0),
    String(f.p50),
    String(f.p99),
    String(f.errors),
    ratio(f.rps, run.floor.rps),
    toDirect,
  ];
  const lines: string[][] = [row('floor: node:http + 1 Redis GET', 'floor', run.floor, '')];
  for (const c of CASES) {
    const d = run.direct.get(c.name);
    const g = run.gateway.get(c.name);
    if (d === undefined || g === undefined) continue;
    lines.push(row(c.name, 'direct', d, ''), row(c.name, 'gateway', g, ratio(g.rps, d.rps)));
  }
  table(['route', 'via', 'req/s', 'p50 ms', 'p99 ms', 'errors', 'to floor', 'gateway/direct'], lines);
}

function printMedians(runs: readonly Run[]): void {
  console.log(`\nmedian of ${runs.length} run(s): ratios are the median of each run's own ratio`);
  const lines: string[][] = [];
  const floorRps = median(runs.map((r) => r.floor.rps));
  lines.push(['floor: node:http + 1 Redis GET', 'floor', floorRps.toFixed(0), '1.00', '', '']);
  for (const c of CASES) {
    const direct = runs.map((r) => r.direct.get(c.name)?.rps ?? 0);
    const gateway = runs.map((r) => r.gateway.get(c.name)?.rps ?? 0);
    const toFloor = median(runs.map((r, i) => (direct[i] ?? 0) / r.floor.rps));
    const gatewayRatio = median(runs.map((_, i) => (gateway[i] ?? 0) / (direct[i] || 1)));
    const verdict = (value: number, target: number | undefined) =>
      target === undefined ? '' : `${value.toFixed(2)} (target ≥ ${target.toFixed(2)}: ${value >= target ? 'met' : 'NOT met'})`;
    lines.push([c.name, 'direct', median(direct).toFixed(0), toFloor.toFixed(2), verdict(toFloor, c.directTarget), '']);
    lines.push([
      c.name,
      'gateway',
      median(gateway).toFixed(0),
      '',
      '',
      verdict(gatewayRatio, c.gatewayTarget) || gatewayRatio.toFixed(2),
    ]);
  }
  table(['route', 'via', 'req/s', 'to floor', 'direct target', 'gateway/direct'], lines);
}

const varDir = await mkdtemp(join(tmpdir(), 'haddock-bench-'));
const PORT_VARIABLES = [
  'GATEWAY_PORT',
  'USERS_PORT',
  'QUOTES_PORT',
  'SEARCH_PORT',
  'OPS_PORT',
  'GATEWAY_METRICS_PORT',
  'USERS_METRICS_PORT',
  'QUOTES_METRICS_PORT',
  'SEARCH_METRICS_PORT',
  'OPS_METRICS_PORT',
  'ALERT_SINK_PORT',
  'REDIS_PORT',
] as const;
// One more than the platform needs: the floor server's.
const [floorPort, ...free] = await freePorts(PORT_VARIABLES.length + 1);
const ports = Object.fromEntries(PORT_VARIABLES.map((name, i) => [name, free[i]]));
const env = {
  ...process.env,
  ...Object.fromEntries(Object.entries(ports).map(([k, v]) => [k, String(v)])),
  HADDOCK_VAR_DIR: varDir,
  RATE_LIMIT_PER_MINUTE: '0',
  // Prometheus scraping would share the two cores with the load; the bench measures the services alone.
  MONITORING: 'off',
  LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'WARNING',
  HTTP_INSTRUMENTATION: INSTRUMENTED ? 'true' : 'false',
  REDIS_URL: '',
  REDIS_SENTINELS: '',
};
console.log(
  `bench: ${RUNS} run(s), ${DURATION_S}s per route, ${CONNECTIONS} connections, LOG_LEVEL=${env.LOG_LEVEL}, ` +
    `instrumentation ${INSTRUMENTED ? 'on' : 'off'}, node ${process.version}`,
);
const platform = await startPlatform(loadConfig(env));
const redisUrl = platform.urls.redis;
const floor = fork(new URL('./floor-server.ts', import.meta.url).pathname, [String(floorPort), redisUrl], {
  execArgv: ['--import', 'tsx'],
  stdio: 'inherit',
});
await new Promise<void>((resolve, reject) => {
  floor.once('message', () => resolve());
  floor.once('exit', (code) => reject(new Error(`floor server exited with ${code}`)));
});

try {
  const gateway = platform.urls.gateway;
  const direct = { quotes: platform.urls.quotes, search: platform.urls.search };
  // Wait for seeding (readiness) before measuring.
  for (let i = 0; i < 100; i++) {
    const res = await fetch(`${direct.quotes}/quotes/health`).catch(() => null);
    if (res?.status === 200) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const login = await fetch(`${gateway}/users/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'Alice', password: 'inWonderland' }),
  });
  const { token } = (await login.json()) as { token: string };
  const auth = { authorization: token };

  const runs: Run[] = [];
  for (let i = 0; i < RUNS; i++) {
    const floorFigures = await load(`http://127.0.0.1:${floorPort}/`);
    const directFigures = new Map<string, Figures>();
    const gatewayFigures = new Map<string, Figures>();
    for (const c of CASES) {
      const headers = c.auth === true ? auth : {};
      directFigures.set(c.name, await load(`${direct[c.base]}${c.path}`, headers));
      gatewayFigures.set(c.name, await load(`${gateway}${c.path}`, headers));
    }
    const run = { floor: floorFigures, direct: directFigures, gateway: gatewayFigures };
    runs.push(run);
    printRun(run, `run ${i + 1} of ${RUNS}`);
  }
  printMedians(runs);

  // The large catalogue: 100,000 quotes, then search at 10 connections.
  const redis = new Redis(redisUrl);
  const store = new QuoteStore(redis, process.env.REDIS_KEY_PREFIX ?? 'haddock:');
  const seedTexts = (await store.all()).quotes.map((q) => q.quote);
  const extra = LARGE_CATALOGUE - (await store.count());
  const texts = Array.from({ length: extra }, (_, i) => `${seedTexts[i % seedTexts.length]} n°${i}`);
  const started = performance.now();
  await store.appendMany(texts);
  console.log(
    `loaded ${extra} quotes (catalogue ${await store.count()}) in ${((performance.now() - started) / 1000).toFixed(1)} s`,
  );
  redis.disconnect();
  // First search after the change rebuilds the in-memory index; time it once.
  const rebuild = performance.now();
  await fetch(`${direct.search}/search?keyword=zouave`, { headers: auth });
  console.log(`first search after the change (index rebuild): ${(performance.now() - rebuild).toFixed(0)} ms`);
  const large: string[][] = [];
  for (const [name, path] of [
    ['GET /search (100k, rare word)', '/search?keyword=zouave%20interplanetaire'],
    ['GET /search (100k, common word, limit 20)', '/search?keyword=tonnerre&limit=20'],
  ] as const) {
    const d = await load(`${direct.search}${path}`, auth);
    large.push([name, d.rps.toFixed(0), String(d.p50), String(d.p99), String(d.errors), d.p99 < 50 ? 'met' : 'NOT met']);
  }
  console.log('');
  table(['route (direct)', 'req/s', 'p50 ms', 'p99 ms', 'errors', 'p99 < 50 ms'], large);
} finally {
  floor.kill('SIGTERM');
  await platform.stop();
  await rm(varDir, { recursive: true, force: true });
}
