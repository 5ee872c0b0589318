#!/usr/bin/env node
// Runs before `npm start` (prestart), so it is plain JavaScript with no
// dependencies: node_modules may not exist yet.
//
// 1. Dependencies: installed with `npm ci` unless node_modules already matches
//    package-lock.json. A match is remembered as the lock's sha256 in
//    node_modules/.haddock-lock-hash; when the hash differs, an install that
//    already agrees with the lock (same versions in npm's own
//    node_modules/.package-lock.json, e.g. after `npm install`) is adopted
//    rather than redone.
// 2. redis-server: needed on PATH unless REDIS_URL is set; installed with
//    apt-get when running as root on a system that has it.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { accessSync, constants, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { basename, delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));
const LOCK = join(ROOT, 'package-lock.json');
const HIDDEN_LOCK = join(ROOT, 'node_modules', '.package-lock.json');
const HASH_FILE = join(ROOT, 'node_modules', '.haddock-lock-hash');
const REDIS_INSTALL = 'apt-get update && apt-get install -y redis-server';
const REDIS_MISSING = `redis-server was not found. Install it with: ${REDIS_INSTALL}`;

class ExitError extends Error {}

function readJson(file) {
  return JSON.parse(readFileSync(file, 'utf8'));
}

function sameDeps(a = {}, b = {}) {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  return [...keys].every((key) => a[key] === b[key]);
}

/** True when node_modules holds exactly the lock's versions (platform-specific optional packages aside). */
function installMatchesLock(lock) {
  if (!existsSync(HIDDEN_LOCK)) return false;
  let hidden;
  try {
    hidden = readJson(HIDDEN_LOCK).packages ?? {};
  } catch {
    return false;
  }
  const locked = lock.packages ?? {};
  const pkg = readJson(join(ROOT, 'package.json'));
  const root = locked[''] ?? {};
  if (!sameDeps(root.dependencies, pkg.dependencies) || !sameDeps(root.devDependencies, pkg.devDependencies)) return false;
  for (const [path, entry] of Object.entries(hidden)) {
    if (locked[path]?.version !== entry.version) return false;
  }
  for (const [path, entry] of Object.entries(locked)) {
    if (path === '' || entry.optional || entry.link) continue;
    if (hidden[path] === undefined) return false;
  }
  return true;
}

function run(command, args, env = process.env) {
  const result = spawnSync(command, args, { cwd: ROOT, stdio: 'inherit', env });
  if (result.error) return { ok: false, why: result.error.message };
  if (result.status !== 0) return { ok: false, why: `exit code ${result.status ?? result.signal}` };
  return { ok: true };
}

function ensureDependencies() {
  if (!existsSync(LOCK)) throw new ExitError('package-lock.json is missing: run `npm install` once to create it');
  const text = readFileSync(LOCK);
  const hash = createHash('sha256').update(text).digest('hex');
  const stored = existsSync(HASH_FILE) ? readFileSync(HASH_FILE, 'utf8').trim() : undefined;
  if (existsSync(HIDDEN_LOCK) && stored === hash) return;
  if (installMatchesLock(JSON.parse(text.toString('utf8')))) {
    writeFileSync(HASH_FILE, `${hash}\n`);
    return;
  }
  console.log('ensure-deps: node_modules does not match package-lock.json, running npm ci');
  // Under `npm start`, npm_execpath is the npm that runs us: use the same one.
  const npmCli = process.env.npm_execpath;
  const result =
    npmCli !== undefined && /npm/.test(basename(npmCli))
      ? run(process.execPath, [npmCli, 'ci', '--no-audit', '--no-fund'])
      : run(process.platform === 'win32' ? 'npm.cmd' : 'npm', ['ci', '--no-audit', '--no-fund']);
  if (!result.ok) throw new ExitError(`npm ci failed (${result.why}); fix the error above, then run npm start again`);
  writeFileSync(HASH_FILE, `${hash}\n`);
}

function onPath(name) {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue;
    try {
      const candidate = join(dir, name);
      if (!statSync(candidate).isFile()) continue;
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // Not here.
    }
  }
  return undefined;
}

function ensureRedis() {
  if ((process.env.REDIS_URL ?? '').trim() !== '') return;
  if (onPath('redis-server')) return;
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (!isRoot || !onPath('apt-get')) throw new ExitError(REDIS_MISSING);
  console.log(`ensure-deps: redis-server is not installed, running: ${REDIS_INSTALL}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const update = run('apt-get', ['update'], env);
  const install = update.ok ? run('apt-get', ['install', '-y', 'redis-server'], env) : update;
  if (!install.ok || !onPath('redis-server')) {
    throw new ExitError(
      `installing redis-server failed (${install.ok ? 'not on PATH afterwards' : install.why}). ${REDIS_MISSING}`,
    );
  }
}

try {
  ensureDependencies();
  ensureRedis();
} catch (err) {
  console.error(err instanceof ExitError ? err.message : `ensure-deps: ${err?.stack ?? err}`);
  process.exit(1);
}
