// Runs every test file under test/ with node's test runner (Node 20 does not
// expand globs itself). Uses the Redis at TEST_REDIS_URL (default
// 127.0.0.1:6379); when none answers there, starts a private redis-server on a
// free port for the run, or stops with the command to install one.
import { spawn, spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;

function findTests(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return findTests(path);
    return name.endsWith('.test.ts') ? [relative(root, path)] : [];
  });
}

function redisAnswers(url) {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = connect({ host: hostname, port: Number(port || 6379) });
    socket.setTimeout(1000);
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (data) => {
      socket.destroy();
      resolve(data.toString().startsWith('+PONG'));
    });
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
  });
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

const filters = process.argv.slice(2);
const files = findTests(join(root, 'test'))
  .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)))
  .sort();
if (files.length === 0) {
  console.error(`no test files match ${filters.join(' ')}`);
  process.exit(1);
}

const env = { ...process.env };
env.TEST_REDIS_URL ??= 'redis://127.0.0.1:6379';
let privateRedis;
if (!(await redisAnswers(env.TEST_REDIS_URL))) {
  if (spawnSync('redis-server', ['--version']).error) {
    console.error(`No Redis answers at ${env.TEST_REDIS_URL} and redis-server is not installed.`);
    console.error('Install it with: apt-get update && apt-get install -y redis-server');
    process.exit(1);
  }
  const port = await freePort();
  privateRedis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: 'ignore',
  });
  env.TEST_REDIS_URL = `redis://127.0.0.1:${port}`;
  for (let i = 0; i < 50 && !(await redisAnswers(env.TEST_REDIS_URL)); i++) await new Promise((r) => setTimeout(r, 100));
  console.log(`No Redis at the default address: started a private one at ${env.TEST_REDIS_URL} for this run`);
}

const child = spawn(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=spec', ...files], {
  cwd: root,
  env,
  stdio: 'inherit',
});
const stop = (signal) => child.kill(signal);
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
child.on('exit', (code, signal) => {
  privateRedis?.kill('SIGTERM');
  process.exit(code ?? (signal ? 1 : 0));
});
