import type { ServiceHealth } from './commands/health.ts';

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
