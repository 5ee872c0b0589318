import { resolve } from 'node:path';
import { appError } from '../../lib/errors/index.ts';
import { entryFilter, type LogsOptions } from '../../ops/logs/index.ts';

/** `haddock logs` as typed on the command line. */
export interface LogsFlags {
  readonly dir: string;
  /** Comma-separated service names. */
  readonly service?: string;
  readonly level?: string;
  readonly since?: string;
  readonly requestId?: string;
  readonly grep?: string;
  readonly lines: string;
}

/**
 * The log reader's options (`src/ops/logs`) from `haddock logs`'s flags. A
 * bad `--lines`, `--level` or `--since` throws `USAGE_INVALID` (exit 2) here,
 * before any file is read.
 */
export function logsOptions(flags: LogsFlags, now?: Date): LogsOptions {
  const lines = Number(flags.lines);
  if (!Number.isInteger(lines) || lines < 0)
    throw appError('USAGE_INVALID', { detail: '--lines must be a non-negative integer' });
  const options: LogsOptions = {
    dir: resolve(flags.dir),
    services: flags.service?.split(',').map((s) => s.trim()),
    level: flags.level,
    since: flags.since,
    requestId: flags.requestId,
    grep: flags.grep,
    lines,
    ...(now === undefined ? {} : { now }),
  };
  entryFilter(options);
  return options;
}
