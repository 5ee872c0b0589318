import { type FileHandle, open, stat } from 'node:fs/promises';
import { byTime, entryFilter, evidenceLine, type LogEntry, type LogsOptions, parseLine, Ring } from './entries.ts';
import { listLogFiles, readLines, readRotatedFile, type ServiceFiles } from './files.ts';

export {
  entryFilter,
  evidenceLine,
  type LogEntry,
  type LogsOptions,
  parseLevel,
  parseLine,
  parseSince,
  SEVERITIES,
  type Severity,
} from './entries.ts';
export { listLogFiles, readRotatedFile, type ServiceFiles } from './files.ts';
export { applyLogRetention, expiredLogFiles } from './retention.ts';

export interface FollowOptions {
  readonly signal?: AbortSignal;
  /** How often the files are checked for new lines and rotation. */
  readonly pollMs?: number;
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

/** Opens every service's active file, remembering its size now: what is written later is not history. */
async function openAll(files: readonly ServiceFiles[]): Promise<Map<string, Followed>> {
  const live = new Map<string, Followed>();
  for (const group of files) {
    const followed = await openLive(group.service, group.live, true);
    if (followed !== undefined) live.set(group.service, followed);
  }
  return live;
}

/**
 * Reads every service's history (rotated files oldest first, gunzipped, then
 * the active file up to what each `live` handle has seen), keeps the last
 * `lines` entries that pass the filters, and orders them by time across services.
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
    for (const path of group.rotated) await readRotatedFile(path, onLine);
    const followed = live.get(group.service);
    if (followed !== undefined) followed.offset = await readLines(followed.handle, 0, followed.offset, onLine);
    merged.push(...ring.items);
  }
  return byTime(merged).slice(-keep);
}

/**
 * The last `lines` log entries (100 by default) that pass the filters, oldest
 * first, from every service's active and rotated (compressed) files. Throws
 * `USAGE_INVALID` for a bad `level` or `since`, `LOG_DIR_NOT_FOUND` without
 * the directory.
 */
export async function readLogs(options: LogsOptions): Promise<LogEntry[]> {
  entryFilter(options); // Bad --level or --since fail before any file is read.
  const files = await listLogFiles(options.dir, options.services);
  const live = await openAll(files);
  try {
    return (options.lines ?? 100) === 0 ? [] : await history(options, files, live);
  } finally {
    await Promise.all([...live.values()].map((f) => f.handle.close()));
  }
}

/**
 * `readLogs`, then every new entry as it is written, until `signal` aborts.
 * A rotated file is read to its end through the handle still open on it
 * before the new one is opened, so no line is missed across a rotation; a
 * service whose log appears later is picked up.
 */
export async function* followLogs(options: LogsOptions, follow: FollowOptions = {}): AsyncGenerator<LogEntry> {
  const accept = entryFilter(options);
  const pollMs = follow.pollMs ?? 500;
  const files = await listLogFiles(options.dir, options.services);
  const live = await openAll(files);
  try {
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
        // The path now: missing while a rotation compresses the old file, another inode once the new file is open.
        const current = await stat(followed.path).catch(() => undefined);
        // What the open handle still holds: the rest of the file, even once it is compressed and unlinked.
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
 * log file (rotated and compressed ones included); a service with a log but
 * no such line counts 0. For `haddock check`.
 */
export async function countErrorLines(dir: string, since: Date): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const group of await listLogFiles(dir)) counts[group.service] = 0;
  const entries = await readLogs({ dir, level: 'ERROR', since: since.toISOString(), lines: Number.POSITIVE_INFINITY });
  for (const entry of entries) counts[entry.service] = (counts[entry.service] ?? 0) + 1;
  return counts;
}

/**
 * A service's WARNING-and-above entries with a time in [from, to], formatted
 * with `evidenceLine`, at most `limit`, newest last. For incident reports.
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
