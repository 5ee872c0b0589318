import { execFile } from 'node:child_process';
import { statfs } from 'node:fs/promises';
import { freemem, totalmem } from 'node:os';
import type { RedisConfig } from '../../lib/config/index.ts';
import { createToolRedis } from '../../lib/redis/index.ts';
import type { BackupManifest } from '../backup/index.ts';
import { checkHealth } from '../health/index.ts';
import { backupKpis } from '../kpi/index.ts';

export type CheckStatus = 'pass' | 'warn' | 'fail';

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

export async function checkServices(gatewayUrl: string): Promise<CheckItem> {
  const results = await checkHealth({ url: gatewayUrl, timeoutMs: 2_000 });
  const sick = results.filter((r) => !r.healthy).map((r) => r.service);
  return {
    name: 'services healthy',
    status: sick.length === 0 ? 'pass' : 'fail',
    detail: sick.length === 0 ? `users, quotes, search healthy via ${gatewayUrl}` : `unhealthy: ${sick.join(', ')}`,
    data: Object.fromEntries(results.map((r) => [r.service, { status: r.status, latency_ms: r.latency_ms }])),
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

export async function checkDisk(path: string): Promise<CheckItem> {
  const fs = await statfs(path);
  const free = fs.bavail * fs.bsize;
  const total = fs.blocks * fs.bsize;
  const freePercent = (100 * free) / total;
  return {
    name: 'disk space',
    status: freePercent < 5 ? 'fail' : freePercent < 15 ? 'warn' : 'pass',
    detail: `${(free / 1_073_741_824).toFixed(1)} GiB free of ${(total / 1_073_741_824).toFixed(1)} GiB (${freePercent.toFixed(1)}%) at ${path}`,
    data: { free_bytes: free, total_bytes: total },
  };
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
  return { name: 'error lines in logs (24 h)', status: total === 0 ? 'pass' : 'warn', detail, data: errorLines };
}

export function checkBackups(backups: readonly BackupManifest[], now: Date): CheckItem[] {
  return backupKpis(backups, now).map((row) => ({
    name: row.name.toLowerCase(),
    status: row.status === 'green' ? 'pass' : row.status === 'amber' ? 'warn' : 'fail',
    detail: `${row.display} (target ${row.target})`,
  }));
}

/** `npm audit` of the production dependencies (needs the npm registry; bounded in time). */
export function checkAudit(cwd: string, timeoutMs = 60_000): Promise<CheckItem> {
  return new Promise((resolve) => {
    execFile('npm', ['audit', '--omit=dev', '--json'], { cwd, timeout: timeoutMs, maxBuffer: 16 * 1_048_576 }, (err, stdout) => {
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
          name: 'dependency vulnerabilities (npm audit, production)',
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
          name: 'dependency vulnerabilities (npm audit, production)',
          status: 'warn',
          detail: `npm audit could not run: ${err?.message ?? (parseError as Error).message}`,
        });
      }
    });
  });
}
