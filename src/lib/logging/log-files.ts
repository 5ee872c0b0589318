import { basename, dirname, join } from 'node:path';

/*
 * The names of a process's log files, in one place: the writer gives
 * `rotatedLogName` to the rotating stream as its name generator, and the
 * reader (`haddock logs`) and the retention (`haddock clean`) recognise the
 * same names with `parseLogFileName`.
 *
 *   quotes.log                               the active file
 *   quotes.log.20261126T093000123Z-001.gz    rotated at that UTC time (then gzip-compressed)
 *   quotes.log.3, quotes.log.1.gz            rotated by the earlier numbered scheme, still read
 */

/** `20261126T093000123Z`: sorts as text in time order. */
function stamp(time: Date): string {
  return time.toISOString().replace(/[-:.]/g, '');
}

/**
 * The rotated name of `livePath` for a rotation at `time`; `index` (1…999)
 * tells apart rotations within the same millisecond. Always ends in `.gz`:
 * rotated files are compressed.
 */
export function rotatedLogName(livePath: string, time: Date, index: number): string {
  return join(dirname(livePath), `${basename(livePath)}.${stamp(time)}-${String(index).padStart(3, '0')}.gz`);
}

/** What a file name in a log directory is, for the reader and the retention. */
export interface LogFileName {
  /** `quotes` for `quotes.log` and every rotated `quotes.log.*`. */
  readonly service: string;
  readonly rotated: boolean;
  readonly compressed: boolean;
  /**
   * Orders one service's rotated files oldest first when compared as text;
   * numbered files (the earlier scheme) sort before timestamped ones, the
   * highest number first. Empty for the active file.
   */
  readonly order: string;
}

const ACTIVE = /^(.+)\.log$/;
const TIMESTAMPED = /^(.+)\.log\.(\d{8}T\d{9}Z-\d{3})(\.gz)?$/;
const NUMBERED = /^(.+)\.log\.(\d{1,6})(\.gz)?$/;

/** Recognises `x.log` and its rotated files; undefined for anything else (`.out`, `redis.log.txt`, history files). */
export function parseLogFileName(name: string): LogFileName | undefined {
  const timestamped = TIMESTAMPED.exec(name);
  if (timestamped !== null) {
    return {
      service: timestamped[1] as string,
      rotated: true,
      compressed: timestamped[3] !== undefined,
      order: `1${timestamped[2]}`,
    };
  }
  const numbered = NUMBERED.exec(name);
  if (numbered !== null) {
    // x.log.10 is older than x.log.2: the complement makes the text order oldest first.
    const rank = String(999_999 - Number(numbered[2])).padStart(6, '0');
    return { service: numbered[1] as string, rotated: true, compressed: numbered[3] !== undefined, order: `0${rank}` };
  }
  const active = ACTIVE.exec(name);
  if (active !== null) return { service: active[1] as string, rotated: false, compressed: false, order: '' };
  return undefined;
}

/** Where the rotating stream keeps its list of rotated files (for LOG_FILE_KEEP): hidden, beside the log. */
export function rotationHistoryPath(livePath: string): string {
  return join(dirname(livePath), `.${basename(livePath)}.rotated`);
}
