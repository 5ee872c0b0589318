// `npm start`: the whole platform on this machine, no Docker. Prints a status
// line per lifecycle event; Ctrl-C (or SIGTERM) stops everything in order.
import { ConfigError } from '../lib/config/index.ts';
import {
  formatEvent,
  formatUrls,
  loadConfig,
  PlatformError,
  type PlatformHandle,
  type RunnerConfig,
  startPlatform,
} from './runner/index.ts';

const say = (line: string) => process.stdout.write(`[haddock] ${line}\n`);
// A closed terminal or pipe must not crash the runner in the middle of a stop.
process.stdout.on('error', () => {});

function readConfig(): RunnerConfig {
  try {
    return loadConfig(process.env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`haddock: ${err.message}\n`);
    process.exit(2);
  }
}
const config = readConfig();

const controller = new AbortController();
const starting: Promise<PlatformHandle> = startPlatform(config, {
  onEvent: (event) => say(formatEvent(event)),
  signal: controller.signal,
});

let shuttingDown = false;
const shutdown = (reason: string) => {
  if (shuttingDown) return;
  shuttingDown = true;
  say(`${reason}, stopping`);
  controller.abort();
  starting
    .then(
      (handle) => handle.stop(),
      () => undefined,
    )
    .then(
      () => {
        say('all stopped');
        process.exit(0);
      },
      (err: unknown) => {
        process.stderr.write(`haddock: error while stopping: ${String(err)}\n`);
        process.exit(1);
      },
    );
};
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => shutdown(`${signal} received`));
// npm does not pass SIGTERM on to the script it runs: when the parent goes, so does the platform.
const parent = process.ppid;
setInterval(() => {
  if (process.ppid !== parent) shutdown('parent process exited');
}, 1_000).unref();

try {
  const handle = await starting;
  say(formatUrls(handle.urls));
} catch (err) {
  // An interrupted start is not a failure: shutdown() reports and exits.
  if (!shuttingDown) {
    const message = err instanceof PlatformError ? err.message : err instanceof Error ? (err.stack ?? err.message) : String(err);
    process.stderr.write(`${message}\n`);
    process.exit(1);
  }
}
