import Table from 'cli-table3';
import type { ServiceHealth } from '../ops/health/index.ts';
import type { LogEntry } from '../ops/logs/index.ts';

// Off until the entry turns it on (a terminal, no NO_COLOR): printers never read the environment themselves.
let colour = false;

/** Whether the printers colour their output; `src/cli/main.ts` decides from the terminal and NO_COLOR. */
export function setColour(enabled: boolean): void {
  colour = enabled;
}

export const paint = (code: number, text: string) => (colour ? `\u001b[${code}m${text}\u001b[0m` : text);
export const green = (text: string) => paint(32, text);
export const red = (text: string) => paint(31, text);
export const yellow = (text: string) => paint(33, text);
export const grey = (text: string) => paint(90, text);

// No borders: columns two spaces apart, as `ls -l` or `kubectl get` print them.
const NO_BORDER = {
  top: '',
  'top-mid': '',
  'top-left': '',
  'top-right': '',
  bottom: '',
  'bottom-mid': '',
  'bottom-left': '',
  'bottom-right': '',
  left: '',
  'left-mid': '',
  mid: '',
  'mid-mid': '',
  right: '',
  'right-mid': '',
  middle: '  ',
};

/** Rows (the first is the header) in columns padded to their widest cell, colour codes not counted. */
export function table(rows: readonly (readonly string[])[]): string {
  const layout = new Table({
    chars: NO_BORDER,
    style: { head: [], border: [], 'padding-left': 0, 'padding-right': 0, compact: true },
  });
  layout.push(...rows.map((row) => [...row]));
  return layout
    .toString()
    .split('\n')
    .map((line) => line.trimEnd())
    .join('\n');
}

export function printHealth(results: readonly ServiceHealth[]): string {
  const rows = [['SERVICE', 'STATUS', 'HTTP', 'LATENCY', 'URL']];
  for (const r of results) {
    rows.push([r.service, r.healthy ? green('healthy') : red('unhealthy'), String(r.status ?? '-'), `${r.latency_ms} ms`, r.url]);
  }
  return table(rows);
}

const SEVERITY_COLOUR: Record<string, number> = { DEBUG: 90, INFO: 36, WARNING: 33, ERROR: 31, CRITICAL: 35 };

/**
 * One line per entry: time, service, severity, message, then what a request
 * line carries (method, route, status, duration), the error, and the request id.
 */
export function printLogEntry(entry: LogEntry): string {
  const r = entry.record;
  const severity = entry.severity ?? (typeof r.level === 'string' ? r.level.toUpperCase() : '?');
  const parts = [
    paint(90, entry.time ?? '-'.repeat(24)),
    entry.service.padEnd(8),
    paint(SEVERITY_COLOUR[severity] ?? 0, severity.padEnd(8)),
    entry.msg ?? '',
  ];
  if (typeof r.method === 'string' || typeof r.route === 'string') {
    parts.push([r.method, r.route].filter((v) => typeof v === 'string').join(' '));
  }
  if (typeof r.status === 'number') {
    parts.push(r.status >= 500 ? red(String(r.status)) : r.status >= 400 ? paint(33, String(r.status)) : green(String(r.status)));
  }
  if (typeof r.duration_ms === 'number') parts.push(`${r.duration_ms}ms`);
  const err = r.err as { message?: unknown } | undefined;
  if (err !== null && typeof err === 'object' && typeof err.message === 'string') parts.push(red(`err="${err.message}"`));
  if (typeof r.reqId === 'string') parts.push(paint(90, `req=${r.reqId}`));
  return parts.filter((p) => p.length > 0).join('  ');
}
