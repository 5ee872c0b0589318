import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError } from 'commander';
import { checkHealth } from './commands/health.ts';
import { followLogs, type LogEntry, type LogsOptions, readLogs } from './commands/logs.ts';
import { CliError } from './errors.ts';
import { printHealth, printLogEntry } from './print.ts';

/** Where `npm start` writes the logs: `$HADDOCK_VAR_DIR/log`, else `<repo>/var/log`. */
const DEFAULT_LOG_DIR =
  process.env.HADDOCK_VAR_DIR !== undefined && process.env.HADDOCK_VAR_DIR.trim() !== ''
    ? resolve(process.env.HADDOCK_VAR_DIR, 'log')
    : fileURLToPath(new URL('../../var/log', import.meta.url));

const program = new Command()
  .name('haddock')
  .description('Operate the Haddock quotes platform')
  .showHelpAfterError()
  .exitOverride();

program
  .command('health')
  .description("Check every service's readiness route through the gateway")
  .option('--url <url>', 'gateway URL', process.env.HADDOCK_URL ?? `http://localhost:${process.env.GATEWAY_PORT ?? '8000'}`)
  .option('--timeout <ms>', 'per-request timeout in milliseconds', '2000')
  .option('--json', 'print JSON instead of a table')
  .addHelpText('after', '\nExamples:\n  $ haddock health\n  $ haddock health --url http://localhost:8000 --json')
  .action(async (options: { url: string; timeout: string; json?: boolean }) => {
    const timeoutMs = Number(options.timeout);
    if (!Number.isInteger(timeoutMs) || timeoutMs <= 0) throw new CliError('--timeout must be a positive integer', 2);
    const results = await checkHealth({ url: options.url, timeoutMs });
    process.stdout.write(`${options.json ? JSON.stringify(results, null, 2) : printHealth(results)}\n`);
    if (!results.every((r) => r.healthy)) process.exitCode = 1;
  });

interface LogsFlags {
  dir: string;
  service?: string;
  level?: string;
  since?: string;
  requestId?: string;
  grep?: string;
  lines: string;
  follow?: boolean;
  json?: boolean;
}

program
  .command('logs')
  .description("Read the platform's JSON logs (var/log/*.log, rotated files included), filtered, oldest first")
  .option('--dir <dir>', 'log directory', DEFAULT_LOG_DIR)
  .option('--service <names>', 'only these services, comma-separated (users,quotes,search,gateway…)')
  .option('--level <level>', 'this level and above: DEBUG, INFO, WARNING, ERROR, CRITICAL')
  .option('--since <when>', 'a duration back from now (30s, 10m, 1h, 2d) or an ISO date')
  .option('--request-id <id>', 'only the lines of one request (its X-Request-Id)')
  .option('--grep <text>', 'case-insensitive text in the message or anywhere in the line')
  .option('--lines <n>', 'the last N lines after filtering', '100')
  .option('-f, --follow', 'keep printing new lines as they are written (survives log rotation)')
  .option('--json', 'print the raw JSON lines')
  .addHelpText(
    'after',
    [
      '',
      'Examples:',
      '  $ haddock logs --service quotes --level WARNING --since 1h',
      '  $ haddock logs --request-id 3f1c2a9e-8a8e-4a43-9f7e-0d6f0b6c1e27',
      '  $ haddock logs --grep "redis" --lines 20',
      '  $ haddock logs --service gateway,users --follow',
      '  $ haddock logs --since 2026-11-26T10:00:00Z --json | jq .msg',
    ].join('\n'),
  )
  .action(async (flags: LogsFlags) => {
    const lines = Number(flags.lines);
    if (!Number.isInteger(lines) || lines < 0) throw new CliError('--lines must be a non-negative integer', 2);
    const options: LogsOptions = {
      dir: resolve(flags.dir),
      services: flags.service?.split(',').map((s) => s.trim()),
      level: flags.level,
      since: flags.since,
      requestId: flags.requestId,
      grep: flags.grep,
      lines,
    };
    const format = flags.json ? (entry: LogEntry) => entry.raw : printLogEntry;
    const write = (entry: LogEntry) => process.stdout.write(`${format(entry)}\n`);
    // `haddock logs | head` closes the pipe early: that is the reader being done, not an error.
    process.stdout.on('error', (err: NodeJS.ErrnoException) => process.exit(err.code === 'EPIPE' ? 0 : 1));
    if (!flags.follow) {
      for (const entry of await readLogs(options)) write(entry);
      return;
    }
    const stop = new AbortController();
    process.once('SIGINT', () => stop.abort());
    process.once('SIGTERM', () => stop.abort());
    for await (const entry of followLogs(options, { signal: stop.signal })) write(entry);
  });

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    process.exit(err.exitCode);
  }
  process.stderr.write(`haddock: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(err instanceof CliError ? err.exitCode : 1);
}
