import { unlink } from 'node:fs/promises';
import { finished } from 'node:stream/promises';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { type DestinationStream, destination, type Logger, type LoggerOptions, multistream, pino } from 'pino';
import { createStream } from 'rotating-file-stream';
import type { LogFileConfig } from '../config/index.ts';
import type { RequestCompletion } from '../http/completion.ts';
import { rotatedLogName, rotationHistoryPath } from './log-files.ts';

export { type LogFileName, parseLogFileName, rotatedLogName, rotationHistoryPath } from './log-files.ts';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** A probe route (health, /metrics): its completion line is logged at debug, not info. */
    quietLog?: boolean;
  }
}

/**
 * Paths pino removes from every log line: credentials never reach a log,
 * whatever a handler passes to the logger.
 */
export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  'headers.cookie',
  'authorization',
  'password',
  'token',
  '*.password',
  '*.token',
  '*.authorization',
  'body.password',
  'adminKeys',
  '*.adminKeys',
];

/** The spec's level names (6.2.1.2), by pino level label: each line carries both. */
export const SEVERITY: Readonly<Record<string, string>> = {
  trace: 'DEBUG',
  debug: 'DEBUG',
  info: 'INFO',
  warn: 'WARNING',
  error: 'ERROR',
  fatal: 'CRITICAL',
};

/**
 * pino options shared by every process: JSON lines with ISO time, the level
 * as a label plus the spec's name for it (`"level":"warn","severity":"WARNING"`),
 * the service name and redaction.
 */
export function loggerOptions(service: string, level: string): LoggerOptions {
  return {
    level,
    base: { service },
    timestamp: () => `,"time":"${new Date().toISOString()}"`,
    messageKey: 'msg',
    formatters: {
      level: (label) => ({ level: label, severity: SEVERITY[label] ?? label.toUpperCase() }),
    },
    redact: { paths: REDACTED_PATHS, censor: '[REDACTED]' },
  };
}

export interface LoggerSetup {
  readonly service: string;
  readonly level: string;
  /** Where the lines go instead of stdout (tests capture them). */
  readonly stream?: NodeJS.WritableStream;
  /** A rotating, compressed log file that gets every line too (`openLogFile`). */
  readonly file?: LogFileConfig;
  /** false: the file only (needs `file`). Default true. */
  readonly stdout?: boolean;
}

/** A logger and what must be released when its app closes. */
export interface ProcessLogger {
  readonly logger: Logger;
  /**
   * Writes the lines still queued for the log file, then closes it; resolves
   * once the file is closed. Lines logged afterwards go to stdout only.
   */
  close(): Promise<void>;
}

/** A log file open for pino, and how to close it. */
export interface LogFileStream {
  /** What pino writes to: one whole line per call. */
  readonly stream: DestinationStream;
  /** Resolves once every line written before it is in the file and the file is closed. */
  close(): Promise<void>;
}

/**
 * The log file: `rotating-file-stream` rotates it by size (`maxBytes`) into
 * gzip-compressed files named by `rotatedLogName` and keeps the newest `keep`
 * of them. Each pino line is one write, and the stream writes and rotates
 * one write at a time, so a line is never split or lost across a rotation.
 * A failing disk is reported once (to `onError`, stderr by default) and the
 * file is then left alone: stdout still gets every line.
 */
export function openLogFile(file: LogFileConfig, onError: (err: Error) => void = reportToStderr): LogFileStream {
  const rotating = createStream((time, index) => (time ? rotatedLogName(file.path, new Date(time), index ?? 1) : file.path), {
    size: `${file.maxBytes}B`,
    compress: 'gzip',
    // The library counts the rotated files it keeps in a history file (maxFiles must be positive).
    ...(file.keep > 0 ? { maxFiles: file.keep, history: rotationHistoryPath(file.path) } : {}),
  });
  // LOG_FILE_KEEP=0: nothing is kept once rotated.
  const removals = new Set<Promise<void>>();
  if (file.keep === 0) {
    rotating.on('rotated', (name) => {
      const removal = unlink(name).catch(() => undefined);
      removals.add(removal);
      void removal.then(() => removals.delete(removal));
    });
  }
  let failed = false;
  let closed = false;
  rotating.on('error', (err) => {
    if (!failed) onError(err);
    failed = true;
  });
  rotating.on('warning', (err) => onError(err));
  return {
    stream: {
      write(line: string) {
        // After an error the stream is destroyed; after close a line would reopen nothing.
        if (!failed && !closed) rotating.write(line);
      },
    },
    async close() {
      if (closed) return;
      closed = true;
      if (!failed) rotating.end();
      await finished(rotating).catch(() => undefined);
      await Promise.all([...removals]);
    },
  };
}

/**
 * The process's pino logger: stdout (or `stream`) always and, with `file`,
 * also the rotating log file (`openLogFile`), both through `pino.multistream`.
 */
export function createLogger(setup: LoggerSetup): ProcessLogger {
  const options = loggerOptions(setup.service, setup.level);
  const out = (setup.stream as DestinationStream | undefined) ?? destination({ dest: 1, sync: false });
  if (setup.file === undefined) return { logger: pino(options, out), close: async () => undefined };
  const file = openLogFile(setup.file);
  if (setup.stdout === false && setup.stream === undefined) return { logger: pino(options, file.stream), close: file.close };
  // Each stream takes every level: the logger's own level does the filtering.
  const streams = multistream([
    { level: 'trace', stream: out },
    { level: 'trace', stream: file.stream },
  ]);
  return { logger: pino(options, streams), close: file.close };
}

function reportToStderr(err: Error): void {
  process.stderr.write(`log file: ${err.message}; logging to stdout only\n`);
}

/** The request target's path, without the query string: values there may hold secrets. */
export function pathOnly(url: string): string {
  const query = url.indexOf('?');
  return query === -1 ? url : url.slice(0, query);
}

/** What names a request's route in its log line (a template, never the raw URL). */
export type RouteOf = (request: FastifyRequest) => string;

/** The route template Fastify matched, or `unmatched` for a 404 without a route. */
export const routeTemplate: RouteOf = (request) => request.routeOptions.url ?? 'unmatched';

function writeCompletionLine(request: FastifyRequest, reply: FastifyReply, status: number, routeOf: RouteOf): void {
  const log = request.log;
  // Decide the level first: at the usual production level most lines are probes at debug, and a line
  // that will not be written is never built.
  const level = status >= 500 ? 'error' : request.routeOptions.config?.quietLog === true ? 'debug' : 'info';
  if ((log as Partial<Pick<Logger, 'isLevelEnabled'>>).isLevelEnabled?.(level) === false) return;
  log[level](
    {
      method: request.method,
      route: routeOf(request),
      url: pathOnly(request.url),
      status,
      duration_ms: Math.round(reply.elapsedTime * 100) / 100,
    },
    'request completed',
  );
}

/**
 * One completion line per request, replacing Fastify's two default lines:
 * `method`, `route` (template), `url` (path only), `status`, `duration_ms`,
 * with the request id (`reqId`) from the request's logger. 5xx at error,
 * probes (`config.quietLog`) at debug, everything else at info: a part of
 * the app's request completion (`trackCompletion`), so a request whose client
 * left before the answer was complete gets its line too, with status 499, as
 * the HTTP metrics count it. Turn off Fastify's own request logging
 * (`logController`) alongside.
 */
export function requestLogLines(routeOf: RouteOf = routeTemplate): RequestCompletion {
  return { settled: (request, reply, status) => writeCompletionLine(request, reply, status, routeOf) };
}
