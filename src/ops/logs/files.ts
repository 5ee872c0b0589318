import { createReadStream } from 'node:fs';
import { type FileHandle, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { appError } from '../../lib/errors/index.ts';
import { parseLogFileName } from '../../lib/logging/index.ts';

/** A service's log files: the rotated ones oldest first (gzip-compressed or not), then the active one. */
export interface ServiceFiles {
  readonly service: string;
  readonly rotated: readonly string[];
  readonly live: string;
}

/**
 * Finds every `x.log` and its rotated files in `dir`, grouped by service, in
 * the order their names give (see `parseLogFileName`: the writer's own naming).
 * Throws `LOG_DIR_NOT_FOUND` when the directory does not exist.
 */
export async function listLogFiles(dir: string, services?: readonly string[]): Promise<ServiceFiles[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw appError('LOG_DIR_NOT_FOUND', {
        detail: `no log directory at ${dir}: start the platform (npm start) or pass --dir`,
        cause: err,
      });
    }
    throw err;
  }
  const wanted = new Set(services?.filter((s) => s.length > 0) ?? []);
  const groups = new Map<string, { order: string; path: string }[]>();
  for (const name of names) {
    const parsed = parseLogFileName(name);
    if (parsed === undefined || (wanted.size > 0 && !wanted.has(parsed.service))) continue;
    const list = groups.get(parsed.service) ?? [];
    if (parsed.rotated) list.push({ order: parsed.order, path: join(dir, name) });
    groups.set(parsed.service, list);
  }
  return [...groups.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([service, rotated]) => ({
      service,
      rotated: rotated.sort((a, b) => (a.order < b.order ? -1 : a.order > b.order ? 1 : 0)).map((f) => f.path),
      live: join(dir, `${service}.log`),
    }));
}

/** Splits a byte stream into lines (without `\n` or `\r\n`), skipping empty ones; an unterminated last line is kept. */
async function* linesOf(source: AsyncIterable<Buffer>): AsyncGenerator<string> {
  let carry = Buffer.alloc(0);
  for await (const chunk of source) {
    let data = carry.length > 0 ? Buffer.concat([carry, chunk]) : chunk;
    let newline = data.indexOf(0x0a);
    while (newline !== -1) {
      const line = data.subarray(0, newline).toString('utf8').replace(/\r$/, '');
      if (line.length > 0) yield line;
      data = data.subarray(newline + 1);
      newline = data.indexOf(0x0a);
    }
    carry = Buffer.from(data);
  }
  if (carry.length > 0) yield carry.toString('utf8').replace(/\r$/, '');
}

/**
 * Every line of a rotated file, gunzipped when its name ends in `.gz`.
 * Resolves false, having called `onLine` for nothing, when the file is gone
 * (rotated away or cleaned since the listing) or cannot be decompressed whole:
 * a `.gz` still being written during a rotation, whose lines are then still in
 * the active file. Lines are only handed over once the whole file was read.
 */
export async function readRotatedFile(path: string, onLine: (line: string) => void): Promise<boolean> {
  const lines: string[] = [];
  const collect = async (source: AsyncIterable<Buffer>) => {
    for await (const line of linesOf(source)) lines.push(line);
  };
  try {
    if (path.endsWith('.gz')) await pipeline(createReadStream(path), createGunzip(), collect);
    else await pipeline(createReadStream(path), collect);
  } catch {
    return false;
  }
  for (const line of lines) onLine(line);
  return true;
}

const CHUNK = 64 * 1024;

/**
 * Calls `onLine` for every complete line of an open (active) file between
 * `start` and `end` bytes; returns the offset after the last complete line
 * (a line still being written is left for the next read).
 */
export async function readLines(handle: FileHandle, start: number, end: number, onLine: (line: string) => void): Promise<number> {
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
