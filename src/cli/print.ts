import type { ServiceHealth } from '../ops/health/index.ts';
import type { LogEntry } from './commands/logs.ts';

const useColour = process.stdout.isTTY === true && process.env.NO_COLOR === undefined;
const paint = (code: number, text: string) => (useColour ? `\u001b[${code}m${text}\u001b[0m` : text);
export const green = (text: string) => paint(32, text);
export const red = (text: string) => paint(31, text);

/** Pads columns to their widest cell. */
export function table(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const row of rows) {
    row.forEach((cell, i) => {
      widths[i] = Math.max(widths[i] ?? 0, visibleLength(cell));
    });
  }
  return rows
    .map((row) =>
      row
        .map((cell, i) => cell + ' '.repeat((widths[i] ?? 0) - visibleLength(cell)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

function visibleLength(text: string): number {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: strips ANSI colour codes
  return text.replace(/\u001b\[\d+m/g, '').length;
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
