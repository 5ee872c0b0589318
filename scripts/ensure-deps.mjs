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
// 2. System packages, installed together in one apt-get call when running as
//    root on a system that has it (otherwise the exact command is printed):
//    redis-server, needed on PATH unless REDIS_URL or REDIS_SENTINELS is set;
//    redis-sentinel, always (the Sentinel failover test starts three);
//    Prometheus (prometheus, promtool) and Alertmanager, unless
//    MONITORING=off. The Debian packages start their own daemons (Sentinel on
//    26379, Prometheus and Alertmanager on 9090/9093) where an init system
//    lets them: those are stopped (and disabled under systemd), as the
//    platform and its tests run their own instances.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { accessSync, constants, existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { basename, delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));
const LOCK = join(ROOT, 'package-lock.json');
const HIDDEN_LOCK = join(ROOT, 'node_modules', '.package-lock.json');
const HASH_FILE = join(ROOT, 'node_modules', '.haddock-lock-hash');
/** Process names (/proc/<pid>/comm, 15 characters at most) of the packages' daemons. */
const DAEMON_NAMES = new Set(['prometheus', 'prometheus-aler', 'alertmanager', 'redis-sentinel']);
const DAEMON_SERVICES = ['prometheus', 'prometheus-alertmanager', 'redis-sentinel'];

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

/** What must be on PATH, and the Debian package providing it. */
function requiredPrograms() {
  const programs = [];
  const externalRedis = (process.env.REDIS_URL ?? '').trim() !== '' || (process.env.REDIS_SENTINELS ?? '').trim() !== '';
  if (!externalRedis) programs.push({ names: ['redis-server'], pkg: 'redis-server' });
  programs.push({ names: ['redis-sentinel'], pkg: 'redis-sentinel' });
  if ((process.env.MONITORING ?? '').trim().toLowerCase() !== 'off') {
    programs.push(
      { names: ['prometheus'], pkg: 'prometheus' },
      { names: ['promtool'], pkg: 'prometheus' },
      { names: ['alertmanager', 'prometheus-alertmanager'], pkg: 'prometheus-alertmanager' },
    );
  }
  return programs;
}

/** `alertmanager (or prometheus-alertmanager)` */
function describe(programs) {
  return programs
    .map(({ names: [first, ...others] }) => (others.length === 0 ? first : `${first} (or ${others.join(', ')})`))
    .join(', ');
}

function missingPrograms() {
  return requiredPrograms().filter(({ names }) => !names.some((name) => onPath(name)));
}

/** Pids of running Prometheus/Alertmanager/Sentinel processes, read from /proc (what `pgrep -a prometheus` shows). */
function monitoringDaemons() {
  const pids = [];
  let entries = [];
  try {
    entries = readdirSync('/proc');
  } catch {
    return pids;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (DAEMON_NAMES.has(readFileSync(`/proc/${entry}/comm`, 'utf8').trim())) pids.push(Number(entry));
    } catch {
      // Gone meanwhile.
    }
  }
  return pids;
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function waitGone(pids, ms) {
  const deadline = Date.now() + ms;
  while (pids.some(alive) && Date.now() < deadline) spawnSync('sleep', ['0.1']);
  return pids.filter(alive);
}

/**
 * Stops the daemons the packages' maintainer scripts started during the
 * install (pids not running before it), through the init system so they stay
 * stopped, then by signal.
 */
function stopPackageDaemons(before) {
  const started = monitoringDaemons().filter((pid) => !before.includes(pid));
  if (started.length === 0) return;
  console.log(`ensure-deps: the packages started their own daemons (pids ${started.join(', ')}); stopping them`);
  const quiet = { stdio: 'ignore' };
  if (existsSync('/run/systemd/system')) {
    spawnSync('systemctl', ['disable', '--now', ...DAEMON_SERVICES.map((s) => `${s}.service`)], quiet);
  } else {
    for (const service of DAEMON_SERVICES) spawnSync('invoke-rc.d', [service, 'stop'], quiet);
  }
  let left = waitGone(started, 5_000);
  for (const pid of left) process.kill(pid, 'SIGTERM');
  left = waitGone(left, 5_000);
  for (const pid of left) process.kill(pid, 'SIGKILL');
  left = waitGone(left, 2_000);
  if (left.length > 0) {
    throw new ExitError(
      `could not stop the packages' daemons (pids ${left.join(', ')}): stop them, they hold ports 9090/9093/26379`,
    );
  }
}

function ensureSystemPackages() {
  const missing = missingPrograms();
  if (missing.length === 0) return;
  const packages = [...new Set(missing.map(({ pkg }) => pkg))];
  const command = `apt-get update && apt-get install -y --no-install-recommends ${packages.join(' ')}`;
  const what = describe(missing);
  const hint = packages.some((pkg) => pkg.startsWith('prometheus')) ? ' (or set MONITORING=off to run without monitoring)' : '';
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (!isRoot || !onPath('apt-get')) throw new ExitError(`${what} not found. Install with: ${command}${hint}`);
  console.log(`ensure-deps: ${what} not found, running: ${command}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const before = monitoringDaemons();
  const update = run('apt-get', ['update'], env);
  const install = update.ok ? run('apt-get', ['install', '-y', '--no-install-recommends', ...packages], env) : update;
  stopPackageDaemons(before);
  const still = missingPrograms();
  if (!install.ok || still.length > 0) {
    const why = install.ok ? `${describe(still)} not on PATH afterwards` : install.why;
    throw new ExitError(`installing ${packages.join(' ')} failed (${why}). Install with: ${command}${hint}`);
  }
}

try {
  ensureDependencies();
  ensureSystemPackages();
} catch (err) {
  console.error(err instanceof ExitError ? err.message : `ensure-deps: ${err?.stack ?? err}`);
  process.exit(1);
}
