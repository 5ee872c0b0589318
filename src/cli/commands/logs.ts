import { type FileHandle, open, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { CliError } from '../errors.ts';

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
  /** The `service` field, or the file's name (`users` for `users.log.2`). */
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

export interface FollowOptions {
  readonly signal?: AbortSignal;
  /** How often the files are checked for new lines and rotation. */
  readonly pollMs?: number;
}

/** A severity from `--level`, in either naming; throws an exit-2 error otherwise. */
export function parseLevel(value: string): Severity {
  const severity = PINO_LEVELS[value.toLowerCase()] ?? (SEVERITIES as readonly string[]).find((s) => s === value.toUpperCase());
  if (severity === undefined) throw new CliError(`--level must be one of ${SEVERITIES.join(', ')}, got "${value}"`, 2);
  return severity as Severity;
}

const UNITS: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `10m` → ten minutes before `now`; an ISO date as written; throws an exit-2 error otherwise. */
export function parseSince(value: string, now: Date = new Date()): Date {
  const relative = /^(\d+)\s*([smhd])$/i.exec(value.trim());
  if (relative !== null) {
    return new Date(now.getTime() - Number(relative[1]) * (UNITS[(relative[2] as string).toLowerCase()] as number));
  }
  const absolute = /^\d{4}-\d{2}-\d{2}/.test(value.trim()) ? Date.parse(value.trim()) : Number.NaN;
  if (Number.isNaN(absolute)) {
    throw new CliError(`--since must be a duration (30s, 10m, 1h, 2d) or an ISO date (2026-11-26T10:00:00Z), got "${value}"`, 2);
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

/** Builds the test every entry must pass. */
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

/** A service's log files, oldest first: `x.log.N` … `x.log.1`, then `x.log`. */
export interface ServiceFiles {
  readonly service: string;
  readonly rotated: readonly string[];
  readonly live: string;
}

const LOG_FILE = /^(.+)\.log(?:\.(\d+))?$/;

/** Finds `*.log` and their rotated `*.log.N` in `dir`, grouped by service. */
export async function listLogFiles(dir: string, services?: readonly string[]): Promise<ServiceFiles[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new CliError(`no log directory at ${dir}: start the platform (npm start) or pass --dir`, 1);
    }
    throw err;
  }
  const wanted = new Set(services?.filter((s) => s.length > 0) ?? []);
  const groups = new Map<string, { n: number; path: string }[]>();
  for (const name of names) {
    const match = LOG_FILE.exec(name);
    if (match === null) continue;
    const service = match[1] as string;
    if (wanted.size > 0 && !wanted.has(service)) continue;
    const list = groups.get(service) ?? [];
    list.push({ n: match[2] === undefined ? 0 : Number(match[2]), path: join(dir, name) });
    groups.set(service, list);
  }
  return [...groups.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([service, files]) => ({
      service,
      rotated: files
        .filter((f) => f.n > 0)
        .sort((a, b) => b.n - a.n)
        .map((f) => f.path),
      live: join(dir, `${service}.log`),
    }));
}

const CHUNK = 64 * 1024;

/**
 * Calls `onLine` for every complete line of the open file between `start`
 * and `end` bytes; returns the offset after the last complete line (a line
 * still being written is left for the next read).
 */
async function readLines(handle: FileHandle, start: number, end: number, onLine: (line: string) => void): Promise<number> {
  const buffer = Buffer.alloc(CHUNK);
  let position = start;
  let consumed = start;
  let carry = Buffer.alloc(0);
  while (position < end) {
    const { bytesRead } = await handle.read(buffer, 0, Math.min(CHUNK, end - position), position);
    if (bytesRead === 0) break;
    position += bytesRead;
    let data = carry.length > 0 ? Buffer.concat([carry, buffer.subarray(0, bytesRead)]) : buffer.subarray(0, bytesRead);
    let newline = data.indexOf(0x0a);
    while (newline !== -1) {
      const line = data.subarray(0, newline).toString('utf8').replace(/\r$/, '');
      consumed += newline + 1;
      if (line.length > 0) onLine(line);
      data = data.subarray(newline + 1);
      newline = data.indexOf(0x0a);
    }
    carry = Buffer.from(data);
  }
  return consumed;
}

async function readWholeFile(path: string, onLine: (line: string) => void): Promise<void> {
  let handle: FileHandle;
  try {
    handle = await open(path, 'r');
  } catch {
    return; // Rotated away between the listing and now.
  }
  try {
    await readLines(handle, 0, (await handle.stat()).size, onLine);
  } finally {
    await handle.close();
  }
}

/** The last `limit` items pushed. */
class Ring<T> {
  readonly items: T[] = [];
  constructor(private readonly limit: number) {}
  push(item: T): void {
    if (this.limit === 0) return;
    this.items.push(item);
    if (this.items.length > this.limit) this.items.shift();
  }
}

/** Orders entries by time, keeping file order for equal or missing times. */
function byTime(entries: LogEntry[]): LogEntry[] {
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

interface Followed {
  readonly service: string;
  readonly path: string;
  handle: FileHandle;
  ino: number;
  offset: number;
}

async function openLive(service: string, path: string, atEnd: boolean): Promise<Followed | undefined> {
  try {
    const handle = await open(path, 'r');
    const info = await handle.stat();
    return { service, path, handle, ino: info.ino, offset: atEnd ? info.size : 0 };
  } catch {
    return undefined;
  }
}

/**
 * Reads every service's history (rotated files, oldest first, then the live
 * file up to what each `live` handle has seen), keeps the last `lines`
 * entries that pass the filters, and orders them by time across services.
 */
async function history(options: LogsOptions, files: readonly ServiceFiles[], live: Map<string, Followed>): Promise<LogEntry[]> {
  const keep = options.lines ?? 100;
  const accept = entryFilter(options);
  const merged: LogEntry[] = [];
  for (const group of files) {
    const ring = new Ring<LogEntry>(keep);
    const onLine = (line: string) => {
      const entry = parseLine(line, group.service);
      if (entry !== undefined && accept(entry)) ring.push(entry);
    };
    for (const path of group.rotated) await readWholeFile(path, onLine);
    const followed = live.get(group.service);
    if (followed !== undefined) followed.offset = await readLines(followed.handle, 0, followed.offset, onLine);
    merged.push(...ring.items);
  }
  return byTime(merged).slice(-keep);
}

/** The last `lines` log entries (100 by default) that pass the filters, oldest first. */
export async function readLogs(options: LogsOptions): Promise<LogEntry[]> {
  entryFilter(options); // Bad --level or --since fail before any file is read.
  const files = await listLogFiles(options.dir, options.services);
  const live = new Map<string, Followed>();
  try {
    for (const group of files) {
      const followed = await openLive(group.service, group.live, true);
      if (followed !== undefined) live.set(group.service, followed);
    }
    return (options.lines ?? 100) === 0 ? [] : await history(options, files, live);
  } finally {
    await Promise.all([...live.values()].map((f) => f.handle.close()));
  }
}

/**
 * `readLogs`, then every new entry as it is written, until `signal` aborts.
 * A rotated file is read to its end before the new one is opened, so no line
 * is missed across a rotation; a service whose log appears later is picked up.
 */
export async function* followLogs(options: LogsOptions, follow: FollowOptions = {}): AsyncGenerator<LogEntry> {
  const accept = entryFilter(options);
  const pollMs = follow.pollMs ?? 500;
  const files = await listLogFiles(options.dir, options.services);
  const live = new Map<string, Followed>();
  try {
    for (const group of files) {
      const followed = await openLive(group.service, group.live, true);
      if (followed !== undefined) live.set(group.service, followed);
    }
    if ((options.lines ?? 100) > 0) yield* await history(options, files, live);

    const aborted = () => follow.signal?.aborted === true;
    while (!aborted()) {
      await sleep(pollMs, follow.signal);
      if (aborted()) break;
      const batch: LogEntry[] = [];
      const collect = (service: string) => (line: string) => {
        const entry = parseLine(line, service);
        if (entry !== undefined && accept(entry)) batch.push(entry);
      };
      for (const group of await listLogFiles(options.dir, options.services)) {
        let followed = live.get(group.service);
        if (followed === undefined) {
          // A log that appeared after we started: all of it is new.
          followed = await openLive(group.service, group.live, false);
          if (followed === undefined) continue;
          live.set(group.service, followed);
        }
        const current = await stat(followed.path).catch(() => undefined);
        // What the open handle still holds: the rest of the file, even if it was just renamed to x.log.1.
        const size = (await followed.handle.stat()).size;
        if (current !== undefined && current.ino === followed.ino && size < followed.offset) followed.offset = 0; // truncated
        followed.offset = await readLines(followed.handle, followed.offset, size, collect(followed.service));
        if (current !== undefined && current.ino !== followed.ino) {
          // Rotated: the old file is drained, the new one starts at its beginning.
          await followed.handle.close();
          const next = await openLive(group.service, group.live, false);
          if (next === undefined) {
            live.delete(group.service);
            continue;
          }
          live.set(group.service, next);
          next.offset = await readLines(next.handle, 0, (await next.handle.stat()).size, collect(next.service));
        }
      }
      yield* byTime(batch);
    }
  } finally {
    await Promise.all([...live.values()].map((f) => f.handle.close().catch(() => {})));
  }
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
  });
}

/**
 * ERROR and CRITICAL entries per service at or after `since`, across every
 * log file (rotated ones included); a service with a log but no such line
 * counts 0. For `haddock check`.
 */
export async function countErrorLines(dir: string, since: Date): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const group of await listLogFiles(dir)) counts[group.service] = 0;
  const entries = await readLogs({ dir, level: 'ERROR', since: since.toISOString(), lines: Number.POSITIVE_INFINITY });
  for (const entry of entries) counts[entry.service] = (counts[entry.service] ?? 0) + 1;
  return counts;
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

/**
 * A service's WARNING-and-above entries with a time in [from, to], formatted
 * with `evidenceLine`, at most `limit`, newest last. For `haddock incident report`.
 */
export async function incidentLogLines(dir: string, from: Date, to: Date, service: string, limit = 50): Promise<string[]> {
  const entries = await readLogs({
    dir,
    services: [service],
    level: 'WARNING',
    since: from.toISOString(),
    lines: Number.POSITIVE_INFINITY,
  });
  const end = to.getTime();
  return entries
    .filter((e) => e.time !== undefined && Date.parse(e.time) <= end)
    .slice(-limit)
    .map(evidenceLine);
}
