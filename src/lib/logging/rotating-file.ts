import { closeSync, existsSync, fstatSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

export interface RotatingFileOptions {
  readonly path: string;
  /** A line that would take the file past this size first rotates it (a line alone may exceed it). */
  readonly maxBytes: number;
  /** Rotated files kept: `<path>.1` (newest) … `<path>.<keep>` (oldest). */
  readonly keep: number;
  /** Where a failing disk is reported, once; stderr by default. */
  readonly onError?: (err: unknown) => void;
}

/** Lines waiting past this many bytes are written at once rather than at the end of the event-loop turn. */
const FLUSH_BYTES = 64 * 1024;

// Files with lines still buffered when the process exits (process.exit, an uncaught exception) are flushed then.
const buffered = new Set<RotatingFile>();
let exitHook = false;
function flushAllOnExit(): void {
  for (const file of buffered) file.flushSync();
}

/**
 * A pino destination appending whole lines to a file and rotating it as
 * Python's RotatingFileHandler does: when the next line would take the file
 * past `maxBytes`, `x.log.<keep-1>` … `x.log.1` shift up one, the oldest is
 * deleted, `x.log` becomes `x.log.1` and a new `x.log` starts.
 *
 * The lines of one event-loop turn are written together (one system call
 * instead of one per request), with synchronous writes and renames: the
 * rotation point is decided line by line, so a line is never split across
 * two files and none is lost. Lines still buffered are written by `end()`,
 * `flushSync()` and at process exit; a SIGKILL may lose the last turn's lines.
 * One process per file: two writers rotating the same file would race.
 */
export class RotatingFile {
  private fd: number | undefined;
  private size = 0;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private scheduled = false;
  private failed = false;
  private readonly options: RotatingFileOptions;

  constructor(options: RotatingFileOptions) {
    this.options = options;
    mkdirSync(dirname(options.path), { recursive: true });
    this.open();
    if (!exitHook) {
      exitHook = true;
      process.on('exit', flushAllOnExit);
    }
  }

  /** pino calls this with one complete line (newline included) per log call. */
  write(line: string): boolean {
    const data = Buffer.from(line, 'utf8');
    this.pending.push(data);
    this.pendingBytes += data.length;
    buffered.add(this);
    if (this.pendingBytes >= FLUSH_BYTES) {
      this.flushSync();
    } else if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flushSync()).unref();
    }
    return true;
  }

  /** Writes every buffered line now, rotating between two lines where the limit falls. */
  flushSync(): void {
    this.scheduled = false;
    const lines = this.pending;
    this.pending = [];
    this.pendingBytes = 0;
    buffered.delete(this);
    if (lines.length === 0) return;
    try {
      if (this.fd === undefined) this.open();
      let chunk: Buffer[] = [];
      let chunkBytes = 0;
      for (const line of lines) {
        if (this.size + chunkBytes > 0 && this.size + chunkBytes + line.length > this.options.maxBytes) {
          this.append(chunk, chunkBytes);
          chunk = [];
          chunkBytes = 0;
          this.rotate();
        }
        chunk.push(line);
        chunkBytes += line.length;
      }
      this.append(chunk, chunkBytes);
      this.failed = false;
    } catch (err) {
      // A full or read-only disk must not take the service down: stdout still has the lines.
      if (!this.failed) (this.options.onError ?? reportToStderr)(err);
      this.failed = true;
    }
  }

  /** Writes what is buffered and closes the file; a later line opens it again (a last line logged after close is kept). */
  end(): void {
    this.flushSync();
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }

  private append(chunk: readonly Buffer[], bytes: number): void {
    if (bytes === 0) return;
    const data = chunk.length === 1 ? (chunk[0] as Buffer) : Buffer.concat(chunk, bytes);
    const fd = this.fd as number;
    for (let offset = 0; offset < data.length; ) offset += writeSync(fd, data, offset);
    this.size += data.length;
  }

  private open(): void {
    this.fd = openSync(this.options.path, 'a');
    this.size = fstatSync(this.fd).size;
  }

  private rotate(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
    const { path, keep } = this.options;
    if (keep === 0) {
      rmSync(path, { force: true });
    } else {
      rmSync(`${path}.${keep}`, { force: true });
      for (let n = keep - 1; n >= 1; n--) {
        if (existsSync(`${path}.${n}`)) renameSync(`${path}.${n}`, `${path}.${n + 1}`);
      }
      renameSync(path, `${path}.1`);
    }
    this.open();
  }
}

function reportToStderr(err: unknown): void {
  process.stderr.write(`log file: ${err instanceof Error ? err.message : String(err)}; logging to stdout only\n`);
}
