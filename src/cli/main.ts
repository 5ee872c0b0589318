import { writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { Command, CommanderError, Option } from 'commander';
import { ConfigError } from '../lib/config/index.ts';
import { AppError, appError, type ErrorCode } from '../lib/errors/index.ts';
import { countErrorLines, followLogs, incidentLogLines, type LogEntry, readLogs } from '../ops/logs/index.ts';
import { backupCommand, listCommand, pruneCommand, restoreCommand, verifyCommand } from './commands/backup.ts';
import { checkCommand } from './commands/check.ts';
import { cleanCommand } from './commands/clean.ts';
import { healthCommand } from './commands/health.ts';
import {
  ackIncident,
  incidentReport,
  listIncidents,
  newIncident,
  noteIncident,
  resolveIncident,
  showIncident,
} from './commands/incident.ts';
import { kpiCommand } from './commands/kpi.ts';
import { type LogsFlags, logDirectory, logsOptions } from './commands/logs.ts';
import { alertTest, maintenanceEnd, maintenanceList, maintenanceStart } from './commands/maintenance.ts';
import { type CliConfig, loadCliConfig, loadLogDir, loadServiceUrls } from './config.ts';
import { printHealth, printLogEntry, setColour } from './print.ts';
import {
  printBackup,
  printBackups,
  printCheck,
  printClean,
  printIncident,
  printIncidents,
  printMaintenance,
  printPrune,
  printRestore,
  printScorecard,
  printTestAlert,
  scorecardMarkdown,
} from './print-ops.ts';
import { startProgress } from './progress.ts';

// Colour only for a person at a terminal (https://no-color.org).
setColour(process.stdout.isTTY === true && process.env.NO_COLOR === undefined);

/** Who `--by` names when not given. */
const OPERATOR = process.env.USER?.trim() || 'operator';

// Read on first use, once: `--help`, `health` and `logs` work whatever the
// environment holds, and a bad variable fails only the commands that read it.
let loaded: CliConfig | undefined;
function config(): CliConfig {
  loaded ??= loadCliConfig(process.env);
  return loaded;
}

/** Prints a command's data: JSON for scripts, the human printer otherwise. */
function emit<T>(json: boolean | undefined, data: T, human: (data: T) => string): void {
  process.stdout.write(`${json ? JSON.stringify(data, null, 2) : human(data)}\n`);
}

/** The `Examples:` block every command's help ends with. */
const examples = (...lines: string[]) => `\nExamples:\n${lines.map((l) => `  $ ${l}`).join('\n')}`;

/** Asks on stderr, reads stdin; anything but y/yes (or end of input) is a no. */
function confirm(question: string): Promise<boolean> {
  return new Promise((done) => {
    const rl = createInterface({ input: process.stdin, output: process.stderr });
    let answered = false;
    rl.once('close', () => {
      if (!answered) {
        process.stderr.write('\n');
        done(false);
      }
    });
    rl.question(`${question} [y/N] `, (answer) => {
      answered = true;
      rl.close();
      done(/^y(es)?$/i.test(answer.trim()));
    });
  });
}

const program = new Command()
  .name('haddock')
  .description('Operate the Haddock quotes platform')
  .showHelpAfterError()
  .exitOverride()
  .addHelpText(
    'after',
    examples(
      'haddock health',
      'haddock backup',
      'haddock incident list --status open',
      'haddock kpi --since 7d',
      'haddock check',
    ),
  );

program
  .command('health')
  .description("Check every service's readiness route on the service itself (USERS_URL…), and that the gateway answers")
  .option('--url <url>', "the gateway's liveness URL (GATEWAY_HEALTH_URL, else /gateway/health under HADDOCK_URL)")
  .option('--timeout <ms>', 'per-request timeout in milliseconds', '2000')
  .option('--json', 'print JSON instead of a table')
  .addHelpText('after', '\nExamples:\n  $ haddock health\n  $ haddock health --url http://localhost:8000 --json')
  .action(async (options: { url?: string; timeout: string; json?: boolean }) => {
    const timeoutMs = Number(options.timeout);
    if (!Number.isInteger(timeoutMs) || timeoutMs <= 0) {
      throw appError('USAGE_INVALID', { detail: '--timeout must be a positive integer' });
    }
    const gatewayHealthUrl = options.url ?? loadCliConfig(process.env).gatewayHealthUrl;
    const results = await healthCommand({ gatewayHealthUrl, services: loadServiceUrls(process.env) }, timeoutMs);
    process.stdout.write(`${options.json ? JSON.stringify(results, null, 2) : printHealth(results)}\n`);
    if (!results.every((r) => r.healthy)) process.exitCode = 1;
  });

interface LogsCommandFlags extends LogsFlags {
  follow?: boolean;
  json?: boolean;
}

program
  .command('logs')
  .description(
    "Read the platform's JSON log files (LOG_DIR, else var/log of `npm start`; rotated files included), filtered, oldest first",
  )
  .option('--dir <dir>', 'log directory (default: LOG_DIR, else $HADDOCK_VAR_DIR/log, else <repo>/var/log)')
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
  .action(async (flags: LogsCommandFlags) => {
    // The flags first (a bad --level is exit 2 wherever the logs are), then the directory, or where to look instead.
    const options = {
      ...logsOptions({ ...flags, dir: flags.dir ?? '.' }),
      dir: await logDirectory(flags.dir, () => loadLogDir(process.env)),
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

program
  .command('backup')
  .description("Snapshot the platform's Redis into BACKUP_DIR, then run its restore drill")
  .option('--no-verify', 'skip the restore drill (load into a throwaway redis-server)')
  .option('--json', 'print the manifest as JSON')
  .addHelpText('after', examples('haddock backup', 'haddock backup --no-verify', 'haddock backup --json | jq .id'))
  .action(async (flags: { verify: boolean; json?: boolean }) => {
    const progress = startProgress(process.stderr, !flags.json);
    let manifest: Awaited<ReturnType<typeof backupCommand>>;
    try {
      manifest = await backupCommand(config(), { verify: flags.verify, onProgress: progress.onProgress });
    } finally {
      progress.stop();
    }
    emit(flags.json, manifest, printBackup);
    if (manifest.verification?.ok === false) {
      throw appError('BACKUP_DRILL_FAILED', { detail: `backup ${manifest.id} failed its restore drill` });
    }
  });

program
  .command('verify')
  .description('Run the restore drill of a backup (the newest by default): checksum, load, key counts, content digest')
  .argument('[id]', 'backup id, or "latest"')
  .option('--json', 'print the manifest with its verification as JSON')
  .addHelpText('after', examples('haddock verify', 'haddock verify redis-20261126T020000Z', 'haddock verify latest --json'))
  .action(async (id: string | undefined, flags: { json?: boolean }) => {
    const progress = startProgress(process.stderr, !flags.json);
    let manifest: Awaited<ReturnType<typeof verifyCommand>>;
    try {
      manifest = await verifyCommand(config(), id, progress.onProgress);
    } finally {
      progress.stop();
    }
    emit(flags.json, manifest, printBackup);
    if (manifest.verification?.ok !== true) {
      throw appError('BACKUP_DRILL_FAILED', { detail: `backup ${manifest.id} failed its restore drill` });
    }
  });

program
  .command('restore')
  .description("Put a backup (the newest by default) back into the platform's Redis, after a safety backup")
  .argument('[id]', 'backup id, or "latest"')
  .option('-y, --yes', 'do not ask for confirmation (required when stdin is not a terminal)')
  .option('--json', 'print the restore report as JSON')
  .addHelpText(
    'after',
    examples('haddock restore', 'haddock restore redis-20261126T020000Z --yes', 'haddock restore latest --yes --json'),
  )
  .action(async (id: string | undefined, flags: { yes?: boolean; json?: boolean }) => {
    if (!flags.yes && process.stdin.isTTY !== true) {
      throw appError('USAGE_INVALID', { detail: 'refusing to restore without --yes when not interactive' });
    }
    const progress = startProgress(process.stderr, !flags.json);
    let report: Awaited<ReturnType<typeof restoreCommand>>;
    try {
      report = await restoreCommand(config(), id, {
        yes: flags.yes === true,
        confirm,
        onProgress: progress.onProgress,
      });
    } finally {
      progress.stop();
    }
    emit(flags.json, report, printRestore);
  });

const backups = program
  .command('backups')
  .description('Backups in BACKUP_DIR, newest first (`list` is the default)')
  .addHelpText('after', examples('haddock backups', 'haddock backups list --json'));

backups
  .command('list', { isDefault: true })
  .description('List the backups with their size, key count and drill result')
  .option('--json', 'print the manifests as JSON')
  .addHelpText('after', examples('haddock backups list', 'haddock backups list --json | jq ".[0].id"'))
  .action(async (flags: { json?: boolean }) => {
    emit(flags.json, await listCommand(config()), printBackups);
  });

program
  .command('prune')
  .description('Apply the retention policy (BACKUP_KEEP newest, younger than BACKUP_MAX_AGE_DAYS; the last good one kept)')
  .option('--dry-run', 'list what would be removed, remove nothing')
  .option('--json', 'print the plan as JSON')
  .addHelpText('after', examples('haddock prune --dry-run', 'haddock prune', 'haddock prune --dry-run --json'))
  .action(async (flags: { dryRun?: boolean; json?: boolean }) => {
    const dryRun = flags.dryRun === true;
    emit(flags.json, await pruneCommand(config(), dryRun), (plan) => printPrune(plan, dryRun));
  });

const incident = program
  .command('incident')
  .description('Open, follow and report incidents (stored in Redis, so they are backed up)')
  .addHelpText(
    'after',
    examples(
      'haddock incident new --title "Citations lentes" --service quotes --severity warning',
      'haddock incident list --status open',
      'haddock incident report INC-2026-001 --lang fr --output rapport.md',
    ),
  );

const byOption = () => new Option('--by <name>', 'who acts (default $USER)').default(OPERATOR);

incident
  .command('new')
  .description('Open an incident by hand')
  .requiredOption('--title <title>', 'what is wrong, in one line')
  .requiredOption('--service <service>', 'the affected service (users, quotes, search, gateway, platform…)')
  .addOption(new Option('--severity <severity>', 'impact').choices(['critical', 'warning', 'info']).default('warning'))
  .addOption(byOption())
  .option('--json', 'print the incident as JSON')
  .addHelpText(
    'after',
    examples(
      'haddock incident new --title "Citations lentes" --service quotes',
      'haddock incident new --title "Login en erreur" --service users --severity critical --by alice --json',
    ),
  )
  .action(
    async (flags: { title: string; service: string; severity: 'critical' | 'warning' | 'info'; by: string; json?: boolean }) => {
      const opened = await newIncident(config(), {
        title: flags.title,
        service: flags.service,
        severity: flags.severity,
        by: flags.by,
      });
      emit(flags.json, opened, printIncident);
    },
  );

incident
  .command('list')
  .description('List incidents, newest first')
  .addOption(new Option('--status <status>', 'only this status').choices(['open', 'acknowledged', 'resolved']))
  .option('--service <service>', 'only this service')
  .option('--json', 'print the incidents as JSON')
  .addHelpText('after', examples('haddock incident list', 'haddock incident list --status resolved --service quotes --json'))
  .action(async (flags: { status?: string; service?: string; json?: boolean }) => {
    emit(flags.json, await listIncidents(config(), { status: flags.status, service: flags.service }), printIncidents);
  });

incident
  .command('show')
  .description('One incident with its timeline and alerts')
  .argument('<id>', 'incident id, e.g. INC-2026-001')
  .option('--json', 'print the incident as JSON')
  .addHelpText(
    'after',
    examples('haddock incident show INC-2026-001', 'haddock incident show INC-2026-001 --json | jq .timeline'),
  )
  .action(async (id: string, flags: { json?: boolean }) => {
    emit(flags.json, await showIncident(config(), id), printIncident);
  });

incident
  .command('ack')
  .description('Acknowledge an incident (someone is on it)')
  .argument('<id>', 'incident id')
  .addOption(byOption())
  .option('--json', 'print the incident as JSON')
  .addHelpText('after', examples('haddock incident ack INC-2026-001', 'haddock incident ack INC-2026-001 --by alice'))
  .action(async (id: string, flags: { by: string; json?: boolean }) => {
    emit(flags.json, await ackIncident(config(), id, flags.by), printIncident);
  });

incident
  .command('note')
  .description("Add a note to an incident's timeline")
  .argument('<id>', 'incident id')
  .argument('<text...>', 'the note (several words are joined)')
  .addOption(byOption())
  .option('--json', 'print the incident as JSON')
  .addHelpText(
    'after',
    examples(
      'haddock incident note INC-2026-001 "Redis memory at 95%, eviction suspected"',
      'haddock incident note INC-2026-001 restarted quotes',
    ),
  )
  .action(async (id: string, words: string[], flags: { by: string; json?: boolean }) => {
    const text = words.join(' ').trim();
    if (text === '') throw appError('USAGE_INVALID', { detail: 'the note is empty' });
    emit(flags.json, await noteIncident(config(), id, text, flags.by), printIncident);
  });

incident
  .command('resolve')
  .description('Resolve an incident')
  .argument('<id>', 'incident id')
  .addOption(byOption())
  .option('--text <text>', 'what fixed it, for the timeline')
  .option('--json', 'print the incident as JSON')
  .addHelpText(
    'after',
    examples(
      'haddock incident resolve INC-2026-001',
      'haddock incident resolve INC-2026-001 --text "maxmemory raised to 512 MiB"',
    ),
  )
  .action(async (id: string, flags: { by: string; text?: string; json?: boolean }) => {
    emit(flags.json, await resolveIncident(config(), id, flags.by, flags.text), printIncident);
  });

incident
  .command('report')
  .description("The incident report and post-incident review in Markdown, with the window's log lines and metrics")
  .argument('<id>', 'incident id')
  .addOption(new Option('--lang <lang>', 'language').choices(['fr', 'en']).default('fr'))
  .option('--output <file>', 'write to this file instead of stdout')
  .option('--json', 'print {id, lang, file, markdown} as JSON')
  .addHelpText(
    'after',
    examples(
      'haddock incident report INC-2026-001',
      'haddock incident report INC-2026-001 --lang en --output docs/incidents/INC-2026-001.md',
    ),
  )
  .action(async (id: string, flags: { lang: 'fr' | 'en'; output?: string; json?: boolean }) => {
    const cfg = config();
    const markdown = await incidentReport(cfg, id, flags.lang, (from, to, service) =>
      incidentLogLines(cfg.logDir, from, to, service),
    );
    const file = flags.output === undefined ? undefined : resolve(flags.output);
    if (file !== undefined) {
      await writeFile(file, markdown).catch((err: Error) => {
        throw appError('FILE_NOT_WRITABLE', { detail: `cannot write ${file}: ${err.message}`, cause: err });
      });
    }
    if (flags.json)
      process.stdout.write(`${JSON.stringify({ id, lang: flags.lang, ...(file ? { file } : {}), markdown }, null, 2)}\n`);
    else process.stdout.write(file === undefined ? markdown : `report of ${id} written to ${file}\n`);
  });

program
  .command('kpi')
  .description('The KPI scorecard over a window: availability, latency, errors (Prometheus), MTTA/MTTR, backups')
  .option('--since <window>', 'the window back from now: 30m, 24h, 7d', '24h')
  .addOption(new Option('--json', 'print the scorecard as JSON').conflicts('markdown'))
  .option('--markdown', 'print a Markdown table, for reports')
  .addHelpText('after', examples('haddock kpi', 'haddock kpi --since 7d --markdown >> report.md', 'haddock kpi --json'))
  .action(async (flags: { since: string; json?: boolean; markdown?: boolean }) => {
    const card = await kpiCommand(config(), flags.since);
    emit(flags.json, card, flags.markdown ? scorecardMarkdown : printScorecard);
  });

program
  .command('check')
  .description(
    'The maintenance checklist, measured: services, Redis, disk, memory, error logs, backups, dependencies; exit 1 when an item fails (an item that does not apply here, such as the logs without LOG_DIR, is skipped, not failed)',
  )
  .option('--no-audit', 'skip npm audit (it needs the npm registry)')
  .option('--json', 'print the report as JSON')
  .addHelpText(
    'after',
    examples('haddock check', 'haddock check --no-audit --json | jq ".items[] | select(.status != \\"pass\\")"'),
  )
  .action(async (flags: { audit: boolean; json?: boolean }) => {
    const cfg = config();
    const report = await checkCommand(cfg, {
      audit: flags.audit,
      countErrorLines: (since) => countErrorLines(cfg.logDir, since),
    });
    emit(flags.json, report, printCheck);
    if (!report.ok) {
      const failed = report.items.filter((i) => i.status === 'fail').map((i) => i.name);
      throw appError('CHECK_FAILED', { detail: `maintenance check failed: ${failed.join(', ')}` });
    }
  });

program
  .command('clean')
  .description(
    'Apply retention: old backups, rotated log files past LOG_RETENTION_DAYS, resolved incidents past INCIDENT_RETENTION_DAYS',
  )
  .option('--dry-run', 'list what would be removed, remove nothing')
  .option('--json', 'print the report as JSON')
  .addHelpText('after', examples('haddock clean --dry-run', 'haddock clean', 'haddock clean --json'))
  .action(async (flags: { dryRun?: boolean; json?: boolean }) => {
    emit(flags.json, await cleanCommand(config(), flags.dryRun === true), printClean);
  });

const maintenance = program
  .command('maintenance')
  .description('Maintenance windows: alerts silenced in Alertmanager, recorded for the KPI report')
  .addHelpText(
    'after',
    examples(
      'haddock maintenance start --for 30m --reason "Redis upgrade"',
      'haddock maintenance list',
      'haddock maintenance stop 3f1c2a9e',
    ),
  );

maintenance
  .command('start')
  .description('Start a window: silence every platform alert until it ends, mark open incidents')
  .requiredOption('--for <duration>', 'how long: 30m, 2h, 1h30m (at most 24h)')
  .requiredOption('--reason <text>', 'why, for the record and the silence comment')
  .addOption(byOption())
  .option('--json', 'print the window as JSON')
  .addHelpText(
    'after',
    examples(
      'haddock maintenance start --for 30m --reason "Redis upgrade"',
      'haddock maintenance start --for 1h30m --reason "node upgrade" --json',
    ),
  )
  .action(async (flags: { for: string; reason: string; by: string; json?: boolean }) => {
    const window = await maintenanceStart(config(), { for: flags.for, reason: flags.reason, by: flags.by });
    emit(flags.json, window, (w) => printMaintenance([w]));
  });

maintenance
  .command('stop')
  .description('End a window now (its silence expires)')
  .argument('<id>', 'window id, or the start of it as `maintenance list` shows')
  .option('--json', 'print the window as JSON')
  .addHelpText('after', examples('haddock maintenance stop 3f1c2a9e'))
  .action(async (id: string, flags: { json?: boolean }) => {
    const window = await maintenanceEnd(config(), id);
    emit(flags.json, window, (w) => printMaintenance([w]));
  });

maintenance
  .command('list')
  .description('Every maintenance window, newest first')
  .option('--json', 'print the windows as JSON')
  .addHelpText('after', examples('haddock maintenance list', 'haddock maintenance list --json'))
  .action(async (flags: { json?: boolean }) => {
    emit(flags.json, await maintenanceList(config()), (list) => printMaintenance(list));
  });

const alert = program.command('alert').description('Alerting tools').addHelpText('after', examples('haddock alert test'));

alert
  .command('test')
  .description('Fire a test alert through Alertmanager to check the notification chain; it resolves by itself')
  .addOption(byOption())
  .option('--json', 'print the result as JSON')
  .addHelpText('after', examples('haddock alert test', 'haddock alert test --by alice --json'))
  .action(async (flags: { by: string; json?: boolean }) => {
    emit(flags.json, await alertTest(config(), flags.by), printTestAlert);
  });

/**
 * The exit status of each error code, the one place errors become exit codes: 2 for what the operator typed
 * (arguments, durations, windows, URLs; like a bad variable), 1 for everything else (not found, unreachable, a
 * failed drill or check), 0 only on success.
 */
const EXIT_CODES: Partial<Record<ErrorCode, number>> = {
  USAGE_INVALID: 2,
  VALIDATION_FAILED: 2,
  DURATION_INVALID: 2,
  WINDOW_INVALID: 2,
  URL_INVALID: 2,
};

function exitCodeOf(err: unknown): number {
  if (err instanceof AppError) return EXIT_CODES[err.code] ?? 1;
  return err instanceof ConfigError ? 2 : 1;
}

/** What the operator reads: the error's operator detail, else its message. */
function describe(err: unknown): string {
  if (err instanceof AppError) return err.detail ?? err.message;
  return err instanceof Error ? err.message : String(err);
}

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    // Commander has printed the problem; help asked for is a success, anything else a usage error.
    process.exit(err.exitCode === 0 ? 0 : 2);
  }
  process.stderr.write(`haddock: ${describe(err)}\n`);
  process.exit(exitCodeOf(err));
}
