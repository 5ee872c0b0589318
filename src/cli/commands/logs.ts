import { resolve } from 'node:path';
import { appError } from '../../lib/errors/index.ts';
import { isDirectory } from '../../ops/check/index.ts';
import { entryFilter, type LogsOptions } from '../../ops/logs/index.ts';
import type { LogDirSetting } from '../config.ts';

/** `haddock logs` as typed on the command line. */
export interface LogsFlags {
  /** The log directory the operator named; without it, LOG_DIR or the local runner's (see `logDirectory`). */
  readonly dir?: string;
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
export function logsOptions(flags: LogsFlags & { readonly dir: string }, now?: Date): LogsOptions {
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

/** Where the services' lines are when no log file is written: said by every "no log directory" answer. */
const READ_STDOUT = 'read them with `docker compose logs <service>` or `kubectl logs <pod>` (or in Grafana, from Loki)';

/**
 * The directory `haddock logs` reads: `--dir`, else LOG_DIR, else the local runner's (`$HADDOCK_VAR_DIR/log`,
 * `<repo>/var/log`). A missing one is LOG_DIR_NOT_FOUND (exit 1) saying which was looked for and where the lines are
 * instead; `setting` is read only when `--dir` is not given.
 */
export async function logDirectory(flag: string | undefined, setting: () => LogDirSetting): Promise<string> {
  if (flag !== undefined) {
    const dir = resolve(flag);
    if (await isDirectory(dir)) return dir;
    throw appError('LOG_DIR_NOT_FOUND', { detail: `no log directory at ${dir} (--dir)` });
  }
  const { path, configured } = setting();
  if (await isDirectory(path)) return path;
  throw appError('LOG_DIR_NOT_FOUND', {
    detail: configured
      ? `LOG_DIR is ${path}, which is not a directory: fix LOG_DIR, or unset it where the services log to stdout and ${READ_STDOUT}`
      : `no log directory: LOG_DIR is not set and ${path} does not exist, so the services log to stdout: ${READ_STDOUT}. On the local platform, start it with \`npm start\`; or pass --dir`,
  });
}
