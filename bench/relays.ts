// `npm run bench:relays`: what a Node relay can reach on this machine. Starts
// the quotes service, then, one at a time, relays in front of it — the
// platform's gateway and stripped-down relays (node:http with undici's
// request, with node:http's client, with undici's dispatch API; Fastify with
// reply-from alone) — and loads GET /quotes/:id directly and through each,
// printing each relay's ratio to direct and the CPU it spends per request
// (from /proc/<pid>/stat). The stripped-down relays answer only what the
// bench sends: they are measuring sticks, not proxies. Loopback, bounded.
import { fork, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, Agent as HttpAgent, request as httpRequest } from 'node:http';
import autocannon from 'autocannon';
import { Pool } from 'undici';
import { freePorts } from '../src/lib/net/index.ts';

const DURATION_S = Number(process.env.BENCH_DURATION_S ?? 5);
const RELAYS = [
  'gateway',
  'node-http+undici-request',
  'node-http+node-client',
  'node-http+undici-dispatch',
  'fastify+reply-from',
];

/** Runs one stripped-down relay (this file, forked with its name) on `port`, in front of `upstream`. */
async function relay(name: string, port: number, upstream: string): Promise<void> {
  const pool = new Pool(upstream, { connections: 128, pipelining: 1 });
  const url = new URL(upstream);
  if (name === 'fastify+reply-from') {
    const { default: Fastify } = await import('fastify');
    const { default: replyFrom } = await import('@fastify/reply-from');
    const app = Fastify({ logger: false });
    await app.register(replyFrom, { base: upstream });
    app.get('/*', (request, reply) => {
      reply.from(request.url);
    });
    await app.listen({ port, host: '127.0.0.1' });
    return;
  }
  const agent = new HttpAgent({ keepAlive: true, maxSockets: 128 });
  createServer((req, res) => {
    const fail = () => {
      res.writeHead(502);
      res.end();
    };
    const answer = (status: number, headers: Record<string, string | string[]>, body: Buffer) => {
      res.writeHead(status, headers);
      res.end(body);
    };
    if (name === 'node-http+undici-request') {
      pool.request({ path: req.url ?? '/', method: 'GET', headers: req.headers }, (err, data) => {
        if (err) return fail();
        data.body
          .arrayBuffer()
          .then((b) => answer(data.statusCode, data.headers as Record<string, string>, Buffer.from(b)), fail);
      });
    } else if (name === 'node-http+node-client') {
      const up = httpRequest({ host: url.hostname, port: url.port, path: req.url, headers: req.headers, agent }, (ur) => {
        const chunks: Buffer[] = [];
        ur.on('data', (c: Buffer) => chunks.push(c));
        ur.on('end', () => answer(ur.statusCode ?? 502, ur.headers as Record<string, string>, Buffer.concat(chunks)));
      });
      up.on('error', fail);
      up.end();
    } else {
      const chunks: Buffer[] = [];
      let status = 0;
      const headers: Record<string, string> = {};
      pool.dispatch({ path: req.url ?? '/', method: 'GET', headers: req.headers }, {
        onConnect() {},
        onError: fail,
        onHeaders(code: number, raw: Buffer[]) {
          status = code;
          for (let i = 0; i + 1 < raw.length; i += 2) headers[String(raw[i])] = String(raw[i + 1]);
          return true;
        },
        onData(chunk: Buffer) {
          chunks.push(chunk);
          return true;
        },
        onComplete: () => answer(status, headers, Buffer.concat(chunks)),
      } as never);
    }
  }).listen(port, '127.0.0.1');
}

function cpuTicks(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return Number(fields[11]) + Number(fields[12]);
}

async function load(url: string, pids: Record<string, number>) {
  await autocannon({ url, connections: 10, duration: 1 });
  const before = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, cpuTicks(pid)]));
  const result = await autocannon({ url, connections: 10, duration: DURATION_S });
  // Clock ticks are 1/100 s: µs of CPU per request.
  const perRequest = Object.fromEntries(
    Object.entries(pids).map(([k, pid]) => [k, ((cpuTicks(pid) - (before[k] ?? 0)) * 10_000) / result.requests.total]),
  );
  return { rps: result.requests.average, p50: result.latency.p50, errors: result.errors + result.non2xx, perRequest };
}

async function waitFor(url: string): Promise<void> {
  for (let i = 0; i < 150; i++) {
    const ok = await fetch(url).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${url} never answered`);
}

const [role, relayName, relayPort, upstream] = process.argv.slice(2);
if (role === 'relay' && relayName !== undefined && upstream !== undefined) {
  await relay(relayName, Number(relayPort), upstream);
} else {
  const root = new URL('..', import.meta.url).pathname;
  const [quotesPort, quotesMetricsPort] = await freePorts(2);
  const env = {
    ...process.env,
    REDIS_URL: process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379',
    REDIS_KEY_PREFIX: 'bench-relays:',
    LOG_LEVEL: 'WARNING',
    RATE_LIMIT_PER_MINUTE: '0',
  };
  const quotes = spawn(process.execPath, ['--import', 'tsx', 'src/services/quotes/server.ts'], {
    cwd: root,
    env: { ...env, PORT: String(quotesPort), METRICS_PORT: String(quotesMetricsPort) },
    stdio: 'inherit',
  });
  const upstreamUrl = `http://127.0.0.1:${quotesPort}`;
  try {
    await waitFor(`${upstreamUrl}/quotes/health`);
    console.log(`relays: GET /quotes/48, ${DURATION_S}s per load, 10 connections, node ${process.version}`);
    for (const name of RELAYS) {
      // The quotes service holds its port: the two new ones cannot be it, nor each other.
      const [port, metricsPort] = await freePorts(2);
      const child =
        name === 'gateway'
          ? spawn(process.execPath, ['--import', 'tsx', 'src/platform/gateway/server.ts'], {
              cwd: root,
              env: {
                ...env,
                GATEWAY_PORT: String(port),
                GATEWAY_METRICS_PORT: String(metricsPort),
                QUOTES_URL: upstreamUrl,
              },
              stdio: 'inherit',
            })
          : fork(new URL(import.meta.url).pathname, ['relay', name, String(port), upstreamUrl], {
              execArgv: ['--import', 'tsx'],
              stdio: 'inherit',
            });
      try {
        await waitFor(`http://127.0.0.1:${port}/quotes/48`);
        const pids = { relay: child.pid ?? 0, quotes: quotes.pid ?? 0 };
        for (let i = 0; i < 2; i++) {
          const direct = await load(`${upstreamUrl}/quotes/48`, pids);
          const relayed = await load(`http://127.0.0.1:${port}/quotes/48`, pids);
          console.log(
            `${name.padEnd(26)} direct ${direct.rps.toFixed(0).padStart(6)} req/s  relayed ${relayed.rps.toFixed(0).padStart(6)} req/s ` +
              `ratio ${(relayed.rps / direct.rps).toFixed(2)}  relay CPU ${relayed.perRequest.relay?.toFixed(0)} µs/req  ` +
              `p50 ${relayed.p50} ms  errors ${direct.errors + relayed.errors}`,
          );
        }
      } finally {
        child.kill('SIGTERM');
      }
    }
  } finally {
    quotes.kill('SIGTERM');
  }
}
