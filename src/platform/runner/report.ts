import type { PlatformEvent, PlatformUrls } from './platform.ts';

function seconds(ms: number): string {
  return ms < 1_000 ? `${ms} ms` : `${(ms / 1_000).toFixed(1)} s`;
}

/** One human line per lifecycle event, for the runner's own stdout. */
export function formatEvent(event: PlatformEvent): string {
  switch (event.type) {
    case 'notice':
      return event.message;
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

/** A Redis URL fit to print: a password in it is replaced, never shown. */
export function printableRedisUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password === '') return url;
    parsed.password = 'redacted';
    return parsed.toString();
  } catch {
    return 'an invalid REDIS_URL';
  }
}

/** The addresses to open, with `localhost` for readability. */
export function formatUrls(urls: PlatformUrls): string {
  const local = (url: string) => url.replace('//127.0.0.1:', '//localhost:');
  const rows: [string, string | undefined][] = [
    ['gateway', local(urls.gateway)],
    ['API docs', local(urls.apidocs)],
    ['users', local(urls.users)],
    ['quotes', local(urls.quotes)],
    ['search', local(urls.search)],
    ['operations', `${local(urls.ops)}/ops`],
    ['redis', printableRedisUrl(urls.redis)],
    ['prometheus', urls.prometheus === undefined ? undefined : local(urls.prometheus)],
    ['alertmanager', urls.alertmanager === undefined ? undefined : local(urls.alertmanager)],
    ['alert log', `${local(urls.alertSink)}/alerts`],
  ];
  return [
    'Haddock is running:',
    ...rows.flatMap(([label, url]) => (url === undefined ? [] : [`  ${label.padEnd(12)} ${url}`])),
    'Press Ctrl-C to stop.',
  ].join('\n');
}
