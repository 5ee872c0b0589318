import { execFile } from 'node:child_process';
import { stat, statfs } from 'node:fs/promises';
import { freemem, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import type { RedisConfig } from '../../lib/config/index.ts';
import { createToolRedis } from '../../lib/redis/index.ts';
import type { BackupManifest } from '../backup/index.ts';
import { checkHealth, HEALTH_SERVICES, type HealthOptions, probeHealth } from '../health/index.ts';
import { backupKpis } from '../kpi/index.ts';

/**
 * `skip`: the item does not apply where the check runs (no log directory where the services log to stdout, no
 * lockfile to audit in an image); it says why, is neither a pass nor a failure, and never fails the check.
 */
export type CheckStatus = 'pass' | 'warn' | 'fail' | 'skip';

export const CHECK_STATUSES: readonly CheckStatus[] = ['pass', 'warn', 'fail', 'skip'];

/** How many items ended in each status; a skipped item is counted apart, never as a pass. */
export function countStatuses(items: readonly CheckItem[]): Record<CheckStatus, number> {
  const counts: Record<CheckStatus, number> = { pass: 0, warn: 0, fail: 0, skip: 0 };
  for (const item of items) counts[item.status] += 1;
  return counts;
}

/** One line of the spec's maintenance checklist (6.3.1.2), as measured. */
export interface CheckItem {
  readonly name: string;
  readonly status: CheckStatus;
  readonly detail: string;
  readonly data?: Readonly<Record<string, unknown>>;
}

/** Runs one check, turning an exception into a failed item instead of stopping the list. */
export async function guarded(name: string, run: () => Promise<CheckItem>): Promise<CheckItem> {
  try {
    return await run();
  } catch (err) {
    return { name, status: 'fail', detail: err instanceof Error ? err.message : String(err) };
  }
}

/** The services' readiness, each asked on its own URL (never through the gateway and its rate limit). */
export async function checkServices(services: HealthOptions['services']): Promise<CheckItem> {
  const results = await checkHealth({ services, timeoutMs: 2_000 });
  const sick = results.filter((r) => !r.healthy).map((r) => r.service);
  return {
    name: 'services healthy',
    status: sick.length === 0 ? 'pass' : 'fail',
    detail:
      sick.length === 0
        ? `${HEALTH_SERVICES.join(', ')} healthy (${results.map((r) => new URL(r.url).host).join(', ')})`
        : `unhealthy: ${sick.join(', ')}`,
    data: Object.fromEntries(results.map((r) => [r.service, { status: r.status, latency_ms: r.latency_ms, url: r.url }])),
  };
}

/** Whether the gateway answers its own liveness route (outside its rate limit). */
export async function checkGateway(healthUrl: string): Promise<CheckItem> {
  const result = await probeHealth('gateway', healthUrl, 2_000);
  return {
    name: 'gateway up',
    status: result.healthy ? 'pass' : 'fail',
    detail: result.healthy
      ? `the gateway answers at ${healthUrl}`
      : `the gateway does not answer at ${healthUrl} (${result.status ?? (result.body as { error?: string }).error})`,
    data: { status: result.status, latency_ms: result.latency_ms, url: result.url },
  };
}

export async function checkRedis(config: RedisConfig): Promise<CheckItem> {
  const redis = createToolRedis(config, { connectTimeoutMs: 2_000 });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    const info = await redis.info();
    const field = (name: string) => new RegExp(`^${name}:(.*)$`, 'm').exec(info)?.[1]?.trim();
    const used = Number(field('used_memory'));
    const max = Number(field('maxmemory'));
    const clients = Number(field('connected_clients'));
    const ratio = max > 0 ? used / max : null;
    const status: CheckStatus = ratio !== null && ratio > 0.9 ? 'fail' : ratio !== null && ratio > 0.8 ? 'warn' : 'pass';
    const memory = `${(used / 1_048_576).toFixed(1)} MiB used${max > 0 ? ` of ${(max / 1_048_576).toFixed(0)} MiB maxmemory` : ', no maxmemory set'}`;
    return {
      name: 'redis reachable',
      status,
      detail: `${memory}, ${clients} connected clients, version ${field('redis_version')}`,
      data: { used_memory_bytes: used, maxmemory_bytes: max, connected_clients: clients },
    };
  } finally {
    redis.disconnect();
  }
}

/** One filesystem holding some of the platform's data, as `statfs` measured it. */
export interface Filesystem {
  /** What it holds: the names given to `checkDisk` (`backups`, `logs`). */
  readonly holds: readonly string[];
  /** Where it was measured: the folder itself, or its nearest existing parent when not created yet. */
  readonly path: string;
  readonly free_bytes: number;
  readonly total_bytes: number;
}

/** The nearest existing folder at or above `path`: the filesystem a file written there would land on. */
async function nearestExisting(path: string): Promise<string> {
  let current = resolve(path);
  for (;;) {
    try {
      await stat(current);
      return current;
    } catch {
      const parent = dirname(current);
      if (parent === current) return current;
      current = parent;
    }
  }
}

const gib = (bytes: number) => (bytes / 1_073_741_824).toFixed(1);
const freePercent = (fs: Filesystem) => (fs.total_bytes > 0 ? (100 * fs.free_bytes) / fs.total_bytes : 100);

/** The disk item from measured filesystems: each one reported, the status that of the fullest. */
export function diskItem(filesystems: readonly Filesystem[]): CheckItem {
  const fullest = filesystems.reduce<Filesystem | undefined>(
    (worst, fs) => (worst === undefined || freePercent(fs) < freePercent(worst) ? fs : worst),
    undefined,
  );
  if (fullest === undefined) return { name: 'disk space', status: 'warn', detail: 'no folder to measure' };
  const percent = freePercent(fullest);
  return {
    name: 'disk space',
    status: percent < 5 ? 'fail' : percent < 15 ? 'warn' : 'pass',
    detail: filesystems
      .map(
        (fs) =>
          `${fs.holds.join(' and ')}: ${gib(fs.free_bytes)} GiB free of ${gib(fs.total_bytes)} GiB (${freePercent(fs).toFixed(1)}%) at ${fs.path}`,
      )
      .join('; '),
    data: { free_bytes: fullest.free_bytes, total_bytes: fullest.total_bytes, filesystems },
  };
}

/**
 * Free space where the platform writes: `paths` names its data folders (`{ backups, logs }`). Each is measured on
 * its own filesystem (a backup volume and a log volume fill up separately), a filesystem shared by several once.
 */
export async function checkDisk(paths: Readonly<Record<string, string>>): Promise<CheckItem> {
  const byDevice = new Map<number, { holds: string[]; path: string; free_bytes: number; total_bytes: number }>();
  for (const [name, path] of Object.entries(paths)) {
    const at = await nearestExisting(path);
    const { dev } = await stat(at);
    const known = byDevice.get(dev);
    if (known !== undefined) {
      known.holds.push(name);
      continue;
    }
    const fs = await statfs(at);
    byDevice.set(dev, { holds: [name], path: at, free_bytes: fs.bavail * fs.bsize, total_bytes: fs.blocks * fs.bsize });
  }
  return diskItem([...byDevice.values()]);
}

export async function checkMemory(): Promise<CheckItem> {
  const free = freemem();
  const total = totalmem();
  const freePercent = (100 * free) / total;
  return {
    name: 'host memory',
    status: freePercent < 5 ? 'fail' : freePercent < 20 ? 'warn' : 'pass',
    detail: `${(free / 1_073_741_824).toFixed(1)} GiB free of ${(total / 1_073_741_824).toFixed(1)} GiB (${freePercent.toFixed(1)}%)`,
    data: { free_bytes: free, total_bytes: total },
  };
}

/** Whether `path` is an existing directory. */
export async function isDirectory(path: string): Promise<boolean> {
  return stat(path).then(
    (s) => s.isDirectory(),
    () => false,
  );
}

export const LOG_ITEM = 'error lines in logs (24 h)';

/**
 * The log item. Without a log directory it depends on who named it: the default one (no LOG_DIR) missing is how an
 * image-based platform runs, its services logging to stdout where `docker compose logs`, `kubectl logs` or the log
 * collector read them: `skip`, not applicable, nothing read. A LOG_DIR set but missing is a failure: someone said the
 * logs are there. Otherwise the ERROR and CRITICAL lines `count` finds.
 */
export async function checkLogs(
  logDir: string,
  count: () => Promise<Readonly<Record<string, number>>>,
  options: { readonly configured: boolean },
): Promise<CheckItem> {
  if (!(await isDirectory(logDir))) {
    return options.configured
      ? {
          name: LOG_ITEM,
          status: 'fail',
          detail: `LOG_DIR is ${logDir}, which is not a directory: fix LOG_DIR, or unset it where the services log to stdout`,
        }
      : {
          name: LOG_ITEM,
          status: 'skip',
          detail: 'not applicable: services log to stdout (no LOG_DIR); read them with `docker compose logs` or `kubectl logs`',
          data: { log_dir: logDir },
        };
  }
  return checkLogErrors(await count());
}

/** `errorLines` counts ERROR and CRITICAL log lines over the last 24 h, per service. */
export function checkLogErrors(errorLines: Readonly<Record<string, number>>): CheckItem {
  const total = Object.values(errorLines).reduce((a, b) => a + b, 0);
  const detail =
    total === 0
      ? 'no ERROR or CRITICAL line in the last 24 h'
      : `${total} ERROR/CRITICAL line(s) in the last 24 h: ${Object.entries(errorLines)
          .filter(([, n]) => n > 0)
          .map(([s, n]) => `${s} ${n}`)
          .join(', ')}`;
  return { name: LOG_ITEM, status: total === 0 ? 'pass' : 'warn', detail, data: errorLines };
}

export function checkBackups(backups: readonly BackupManifest[], now: Date): CheckItem[] {
  return backupKpis(backups, now).map((row) => ({
    name: row.name.toLowerCase(),
    status: row.status === 'green' ? 'pass' : row.status === 'amber' ? 'warn' : 'fail',
    detail: `${row.display} (target ${row.target})`,
  }));
}

export const AUDIT_ITEM = 'dependency vulnerabilities (npm audit, production)';

/**
 * `npm audit` of the production dependencies (needs the npm registry; bounded in time). It does not apply where there
 * is no package-lock.json at `cwd`, or no `npm` to run (the ops image carries the Node runtime alone): `skip`, saying
 * where the dependencies are audited instead.
 */
export async function checkAudit(cwd: string, options: { timeoutMs?: number; npm?: string } = {}): Promise<CheckItem> {
  const lockfile = await stat(join(cwd, 'package-lock.json')).catch(() => undefined);
  if (lockfile?.isFile() !== true) {
    return {
      name: AUDIT_ITEM,
      status: 'skip',
      detail: `not applicable: no package-lock.json at ${cwd} (no checkout); audit the lockfile in CI and scan the image`,
    };
  }
  return npmAudit(cwd, options.timeoutMs ?? 60_000, options.npm ?? 'npm');
}

function npmAudit(cwd: string, timeoutMs: number, npm: string): Promise<CheckItem> {
  return new Promise((resolve) => {
    execFile(npm, ['audit', '--omit=dev', '--json'], { cwd, timeout: timeoutMs, maxBuffer: 16 * 1_048_576 }, (err, stdout) => {
      if ((err as NodeJS.ErrnoException | null)?.code === 'ENOENT') {
        resolve({
          name: AUDIT_ITEM,
          status: 'skip',
          detail: `not applicable: no ${npm} to run here (an image with the Node runtime only); audit the lockfile in CI and scan the image`,
        });
        return;
      }
      try {
        const report = JSON.parse(stdout) as {
          metadata?: { vulnerabilities?: Record<string, number> };
          error?: { summary?: string };
        };
        const counts = report.metadata?.vulnerabilities;
        if (counts === undefined) throw new Error(report.error?.summary ?? 'npm audit gave no summary');
        const serious = (counts.high ?? 0) + (counts.critical ?? 0);
        const all = counts.total ?? Object.values(counts).reduce((a, b) => a + b, 0);
        resolve({
          name: AUDIT_ITEM,
          status: serious > 0 ? 'fail' : all > 0 ? 'warn' : 'pass',
          detail:
            all === 0
              ? 'no known vulnerability'
              : `${all} known: ${Object.entries(counts)
                  .filter(([k, v]) => k !== 'total' && v > 0)
                  .map(([k, v]) => `${v} ${k}`)
                  .join(', ')}`,
          data: counts,
        });
      } catch (parseError) {
        resolve({
          name: AUDIT_ITEM,
          status: 'warn',
          detail: `npm audit could not run: ${err?.message ?? (parseError as Error).message}`,
        });
      }
    });
  });
}
