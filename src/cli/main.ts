import { Command, CommanderError } from 'commander';
import { checkHealth } from './commands/health.ts';
import { CliError } from './errors.ts';
import { printHealth } from './print.ts';

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

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    process.exit(err.exitCode);
  }
  process.stderr.write(`haddock: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(err instanceof CliError ? err.exitCode : 1);
}
