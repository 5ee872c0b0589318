import { readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { parseLogFileName } from '../../lib/logging/index.ts';

/**
 * The rotated log files in `dir` (compressed or not, whatever scheme named
 * them, see `parseLogFileName`) last written before `before`, by name, sorted.
 * An active file is never among them, however old. A missing directory has none.
 */
export async function expiredLogFiles(dir: string, before: Date): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  const expired: string[] = [];
  for (const name of names) {
    if (parseLogFileName(name)?.rotated !== true) continue;
    // A rotated file is written once, when its file is rotated: its mtime is the time of its last line.
    const info = await stat(join(dir, name)).catch(() => undefined);
    if (info?.isFile() && info.mtime < before) expired.push(name);
  }
  return expired.sort();
}

/** `haddock clean`'s log part: the rotated files older than `retentionDays`, removed unless `dryRun`; returns their names. */
export async function applyLogRetention(
  dir: string,
  retentionDays: number,
  dryRun: boolean,
  now = new Date(),
): Promise<string[]> {
  const expired = await expiredLogFiles(dir, new Date(now.getTime() - retentionDays * 86_400_000));
  if (!dryRun) for (const name of expired) await rm(join(dir, name), { force: true });
  return expired;
}
