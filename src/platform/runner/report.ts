import type { PlatformUrls } from './platform.ts';
import type { SupervisorEvent } from './supervisor.ts';

function seconds(ms: number): string {
  return ms < 1_000 ? `${ms} ms` : `${(ms / 1_000).toFixed(1)} s`;
}

/** One human line per lifecycle event, for the runner's own stdout. */
export function formatEvent(event: SupervisorEvent): string {
  switch (event.type) {
    case 'started':
      return `started   ${event.name} (pid ${event.pid})`;
    case 'ready':
      return `ready     ${event.name} in ${seconds(event.ms)}`;
    case 'exited': {
      const how = event.signal === null ? `code ${event.code}` : `signal ${event.signal}`;
      return `exited    ${event.name} unexpectedly (${how}); restarting in ${seconds(event.restartInMs)}`;
    }
    case 'restarted':
      return `restarted ${event.name} (pid ${event.pid}, restart #${event.restarts})`;
    case 'stopped':
      return `stopped   ${event.name}${event.forced ? ' (killed: it did not stop in time)' : ''}`;
    case 'reaped':
      return `stopped   ${event.name} left over from an earlier run (pid ${event.pid})`;
  }
}

/** The addresses to open, with `localhost` for readability. */
export function formatUrls(urls: PlatformUrls): string {
  const local = (url: string) => url.replace('//127.0.0.1:', '//localhost:');
  return [
    'Haddock is running:',
    `  gateway   ${local(urls.gateway)}`,
    `  API docs  ${local(urls.apidocs)}`,
    `  users     ${local(urls.users)}`,
    `  quotes    ${local(urls.quotes)}`,
    `  search    ${local(urls.search)}`,
    `  redis     ${urls.redis}`,
    'Press Ctrl-C to stop.',
  ].join('\n');
}
