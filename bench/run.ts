// `npm run bench`: loads each main route with autocannon, directly and through
// the gateway, next to a floor measured in the same run (a bare node:http
// server doing one Redis GET per request). It prints figures and ratios; it
// asserts nothing about time. Everything runs on loopback, bounded in time.
import { fork } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { Redis } from 'ioredis';
import { freePort } from '../src/lib/net/index.ts';
import { loadConfig } from '../src/platform/runner/config.ts';
import { startPlatform } from '../src/platform/runner/index.ts';
import { QuoteStore } from '../src/services/quotes/quote-store.ts';

const DURATION_S = Number(process.env.BENCH_DURATION_S ?? 5);
const CONNECTIONS = 10;
const LARGE_CATALOGUE = 100_000;

interface Row {
  readonly name: string;
  readonly via: 'direct' | 'gateway' | 'floor';
  readonly rps: number;
  readonly p50: number;
  readonly p99: number;
  readonly errors: number;
  readonly target?: string;
  readonly ratio?: number;
  readonly met?: boolean;
}

async function load(url: string, headers: Record<string, string> = {}) {
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

function print(rows: readonly Row[], floorRps: number): void {
  const header = ['route', 'via', 'req/s', 'p50 ms', 'p99 ms', 'errors', 'ratio to floor', 'target', 'met'];
  const lines = rows.map((r) => [
    r.name,
    r.via,
    r.rps.toFixed(0),
    r.p50.toFixed(1),
    r.p99.toFixed(1),
    String(r.errors),
    r.via === 'floor' ? '1.00' : (r.rps / floorRps).toFixed(2),
    r.target ?? '',
    r.met === undefined ? '' : r.met ? 'yes' : 'NO',
  ]);
  const all = [header, ...lines];
  const widths = header.map((_, i) => Math.max(...all.map((l) => (l[i] ?? '').length)));
  for (const line of all)
    console.log(
      line
        .map((cell, i) => cell.padEnd(widths[i] ?? 0))
        .join('  ')
        .trimEnd(),
    );
}

const varDir = await mkdtemp(join(tmpdir(), 'haddock-bench-'));
const ports = {
  GATEWAY_PORT: await freePort(),
  USERS_PORT: await freePort(),
  QUOTES_PORT: await freePort(),
  SEARCH_PORT: await freePort(),
  OPS_PORT: await freePort(),
  GATEWAY_METRICS_PORT: await freePort(),
  ALERT_SINK_PORT: await freePort(),
  REDIS_PORT: await freePort(),
};
const env = {
  ...process.env,
  ...Object.fromEntries(Object.entries(ports).map(([k, v]) => [k, String(v)])),
  HADDOCK_VAR_DIR: varDir,
  RATE_LIMIT_PER_MINUTE: '0',
  // Prometheus scraping would share the two cores with the load; the bench measures the services alone.
  MONITORING: 'off',
  LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'WARNING',
  REDIS_URL: '',
};
console.log(`bench: ${DURATION_S}s per route, ${CONNECTIONS} connections, LOG_LEVEL=${env.LOG_LEVEL}, node ${process.version}`);
const platform = await startPlatform(loadConfig(env));
const redisUrl = platform.urls.redis;
const floorPort = await freePort();
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

  const floorFigures = await load(`http://127.0.0.1:${floorPort}/`);
  const rows: Row[] = [{ name: 'floor: node:http + 1 Redis GET', via: 'floor', ...floorFigures }];
  const cases = [
    { name: 'GET /quotes/random', path: '/quotes/random', base: 'quotes', target: 0.6 },
    { name: 'GET /quotes/:id', path: '/quotes/48', base: 'quotes', target: 0.6 },
    { name: 'GET /quotes (415)', path: '/quotes', base: 'quotes', target: 0.25 },
    { name: 'GET /search (415)', path: '/search?keyword=tonnerre', base: 'search', headers: auth },
  ] as const;
  for (const c of cases) {
    const headers = 'headers' in c ? c.headers : {};
    const d = await load(`${direct[c.base]}${c.path}`, headers);
    const target = 'target' in c ? c.target : undefined;
    rows.push({
      name: c.name,
      via: 'direct',
      ...d,
      ...(target === undefined ? {} : { target: `≥ ${target * 100}% of floor`, met: d.rps / floorFigures.rps >= target }),
    });
    rows.push({ name: c.name, via: 'gateway', ...(await load(`${gateway}${c.path}`, headers)) });
  }

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
  for (const [name, path] of [
    ['GET /search (100k, rare word)', '/search?keyword=zouave%20interplanetaire'],
    ['GET /search (100k, common word, limit 20)', '/search?keyword=tonnerre&limit=20'],
  ] as const) {
    const d = await load(`${direct.search}${path}`, auth);
    rows.push({ name, via: 'direct', ...d, target: 'p99 < 50 ms', met: d.p99 < 50 });
  }
  console.log('');
  print(rows, floorFigures.rps);
} finally {
  floor.kill('SIGTERM');
  await platform.stop();
  await rm(varDir, { recursive: true, force: true });
}
