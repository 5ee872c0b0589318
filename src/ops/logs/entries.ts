import { appError } from '../../lib/errors/index.ts';

/** The spec's five levels (6.2.1.2), lowest first. */
export const SEVERITIES = ['DEBUG', 'INFO', 'WARNING', 'ERROR', 'CRITICAL'] as const;
export type Severity = (typeof SEVERITIES)[number];

// pino's labels and numbers, for lines that lack `severity` (older lines, other writers).
const PINO_LEVELS: Record<string, Severity> = {
  trace: 'DEBUG',
  debug: 'DEBUG',
  info: 'INFO',
  warn: 'WARNING',
  warning: 'WARNING',
  error: 'ERROR',
  fatal: 'CRITICAL',
  critical: 'CRITICAL',
};
const PINO_NUMBERS: Record<number, Severity> = {
  10: 'DEBUG',
  20: 'DEBUG',
  30: 'INFO',
  40: 'WARNING',
  50: 'ERROR',
  60: 'CRITICAL',
};

/** One JSON log line, with what the filters and the printer read from it. */
export interface LogEntry {
  /** The `service` field, or the file's name (`users` for `users.log`). */
  readonly service: string;
  /** ISO time, as written. */
  readonly time: string | undefined;
  readonly severity: Severity | undefined;
  readonly msg: string | undefined;
  readonly record: Readonly<Record<string, unknown>>;
  /** The line exactly as in the file (for `--json`). */
  readonly raw: string;
}

export interface LogsOptions {
  /** The log directory (`var/log`). */
  readonly dir: string;
  /** Only these services; all when empty or absent. */
  readonly services?: readonly string[];
  /** This level and above: DEBUG, INFO, WARNING, ERROR, CRITICAL (pino's names work too). */
  readonly level?: string;
  /** `30s`, `10m`, `1h`, `2d`, or an ISO date: only lines at or after it. */
  readonly since?: string;
  readonly requestId?: string;
  /** Case-insensitive, in `msg` or anywhere in the raw line. */
  readonly grep?: string;
  /** The last N lines after filtering (default 100). */
  readonly lines?: number;
  /** The clock `since` is relative to (tests). */
  readonly now?: Date;
}

/** A severity in either naming; throws `USAGE_INVALID` otherwise. */
export function parseLevel(value: string): Severity {
  const severity = PINO_LEVELS[value.toLowerCase()] ?? (SEVERITIES as readonly string[]).find((s) => s === value.toUpperCase());
  if (severity === undefined) {
    throw appError('USAGE_INVALID', { detail: `--level must be one of ${SEVERITIES.join(', ')}, got "${value}"` });
  }
  return severity as Severity;
}

const UNITS: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `10m` → ten minutes before `now`; an ISO date as written; throws `USAGE_INVALID` otherwise. */
export function parseSince(value: string, now: Date = new Date()): Date {
  const relative = /^(\d+)\s*([smhd])$/i.exec(value.trim());
  if (relative !== null) {
    return new Date(now.getTime() - Number(relative[1]) * (UNITS[(relative[2] as string).toLowerCase()] as number));
  }
  const absolute = /^\d{4}-\d{2}-\d{2}/.test(value.trim()) ? Date.parse(value.trim()) : Number.NaN;
  if (Number.isNaN(absolute)) {
    throw appError('USAGE_INVALID', {
      detail: `--since must be a duration (30s, 10m, 1h, 2d) or an ISO date (2026-11-26T10:00:00Z), got "${value}"`,
    });
  }
  return new Date(absolute);
}

/** Reads one line; undefined when it is not a JSON object (crash output, Redis's own log). */
export function parseLine(raw: string, fileService: string): LogEntry | undefined {
  if (!raw.startsWith('{')) return undefined;
  let record: unknown;
  try {
    record = JSON.parse(raw);
  } catch {
    return undefined;
  }
  if (record === null || typeof record !== 'object' || Array.isArray(record)) return undefined;
  const r = record as Record<string, unknown>;
  const severity =
    (typeof r.severity === 'string' ? PINO_LEVELS[r.severity.toLowerCase()] : undefined) ??
    (typeof r.level === 'string' ? PINO_LEVELS[r.level.toLowerCase()] : undefined) ??
    (typeof r.level === 'number' ? PINO_NUMBERS[r.level] : undefined);
  return {
    service: typeof r.service === 'string' ? r.service : fileService,
    time: typeof r.time === 'string' ? r.time : undefined,
    severity,
    msg: typeof r.msg === 'string' ? r.msg : undefined,
    record: r,
    raw,
  };
}

/** Builds the test every entry must pass; a bad `level` or `since` throws here, before any file is read. */
export function entryFilter(options: LogsOptions): (entry: LogEntry) => boolean {
  const services = new Set(options.services?.filter((s) => s.length > 0) ?? []);
  const minimum = options.level === undefined ? 0 : SEVERITIES.indexOf(parseLevel(options.level));
  const since = options.since === undefined ? undefined : parseSince(options.since, options.now).getTime();
  const needle = options.grep?.toLowerCase();
  return (entry) => {
    if (services.size > 0 && !services.has(entry.service)) return false;
    if (minimum > 0 && (entry.severity === undefined || SEVERITIES.indexOf(entry.severity) < minimum)) return false;
    if (since !== undefined) {
      const at = entry.time === undefined ? Number.NaN : Date.parse(entry.time);
      if (Number.isNaN(at) || at < since) return false;
    }
    if (options.requestId !== undefined && entry.record.reqId !== options.requestId) return false;
    if (needle !== undefined && !(entry.msg?.toLowerCase().includes(needle) || entry.raw.toLowerCase().includes(needle))) {
      return false;
    }
    return true;
  };
}

/** Orders entries by time, keeping file order for equal or missing times. */
export function byTime(entries: readonly LogEntry[]): LogEntry[] {
  const keyed = entries.map((entry, index) => ({
    entry,
    index,
    at: entry.time === undefined ? Number.NaN : Date.parse(entry.time),
  }));
  let last = Number.NEGATIVE_INFINITY;
  for (const item of keyed) {
    // A line without a readable time stays where its file put it.
    if (Number.isNaN(item.at)) item.at = last;
    else last = item.at;
  }
  return keyed.sort((a, b) => a.at - b.at || a.index - b.index).map((item) => item.entry);
}

/** The last `limit` items pushed. */
export class Ring<T> {
  readonly items: T[] = [];
  constructor(private readonly limit: number) {}
  push(item: T): void {
    if (this.limit === 0) return;
    this.items.push(item);
    if (this.items.length > this.limit) this.items.shift();
  }
}

/** `HH:MM:SS service SEVERITY msg (route status)`: one log entry as an incident report quotes it. */
export function evidenceLine(entry: LogEntry): string {
  const r = entry.record;
  const request = [typeof r.route === 'string' ? r.route : undefined, typeof r.status === 'number' ? String(r.status) : undefined]
    .filter((p) => p !== undefined)
    .join(' ');
  const clock = entry.time !== undefined && entry.time.length >= 19 ? entry.time.slice(11, 19) : '--:--:--';
  return [clock, entry.service, entry.severity ?? '?', entry.msg ?? '', ...(request ? [`(${request})`] : [])].join(' ');
}
