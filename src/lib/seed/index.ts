import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';

/**
 * One line of the quotes seed file as a quote: trimmed, surrounding double
 * quotes removed (a doubled quote inside becomes one), or null for a blank line.
 */
export function quoteOfLine(line: string): string | null {
  const trimmed = line.trim();
  if (trimmed.length === 0) return null;
  return trimmed.length >= 2 && trimmed.startsWith('"') && trimmed.endsWith('"')
    ? trimmed.slice(1, -1).replace(/""/g, '"')
    : trimmed;
}

/** Whether the file's first line is the `quote` header (compared trimmed, case-insensitively). */
function isHeader(firstLine: string): boolean {
  return firstLine.trim().toLowerCase() === 'quote';
}

/**
 * Reads the quotes seed file: a `quote` header, then one whole quote per line.
 * Lines are not CSV-quoted and may hold commas (`Blague, fumisterie et compagnie`
 * is one curse), so each line is taken whole. Surrounding double quotes, if a
 * future export adds them, are removed; blank lines are skipped.
 */
export function parseQuotesFile(text: string): string[] {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  const body = lines[0] !== undefined && isHeader(lines[0]) ? lines.slice(1) : lines;
  return body.map(quoteOfLine).filter((quote): quote is string => quote !== null);
}

/**
 * The quotes of a seed file one at a time, by the rules of {@link parseQuotesFile}, streamed from disk: a file
 * of any size is never held whole in memory. Lines end at `\n` (a `\r` before it is dropped), exactly as the
 * whole-file parser splits them, so both give the same quotes in the same order.
 */
export async function* readQuotesLines(path: string): AsyncGenerator<string> {
  let pending = '';
  let first = true;
  const take = (raw: string): string | null => {
    let line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (first) {
      first = false;
      line = line.replace(/^\uFEFF/, '');
      if (isHeader(line)) return null;
    }
    return quoteOfLine(line);
  };
  for await (const chunk of createReadStream(path, { encoding: 'utf8', highWaterMark: 256 * 1024 })) {
    pending += chunk as string;
    let from = 0;
    for (let end = pending.indexOf('\n'); end >= 0; end = pending.indexOf('\n', from)) {
      const quote = take(pending.slice(from, end));
      from = end + 1;
      if (quote !== null) yield quote;
    }
    pending = pending.slice(from);
  }
  const last = take(pending);
  if (last !== null) yield last;
}

/** Splits RFC 4180 CSV text into rows of fields (quoted fields, doubled quotes, CRLF). */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  const input = text.replace(/^\uFEFF/, '');
  for (let i = 0; i < input.length; i++) {
    const ch = input[i];
    if (quoted) {
      if (ch === '"' && input[i + 1] === '"') {
        field += '"';
        i++;
      } else if (ch === '"') {
        quoted = false;
      } else {
        field += ch;
      }
    } else if (ch === '"' && field.length === 0) {
      quoted = true;
    } else if (ch === ',') {
      row.push(field);
      field = '';
    } else if (ch === '\n' || ch === '\r') {
      if (ch === '\r' && input[i + 1] === '\n') i++;
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
    } else {
      field += ch;
    }
  }
  if (field.length > 0 || row.length > 0) {
    row.push(field);
    rows.push(row);
  }
  return rows.filter((r) => r.some((f) => f.trim().length > 0));
}

export interface SeedUser {
  readonly id: string;
  readonly name: string;
  readonly password: string;
}

/** Reads the users seed file (`id,name,password`), by header name so column order may change. */
export function parseUsersFile(text: string): SeedUser[] {
  const [header, ...rows] = parseCsv(text);
  if (header === undefined) return [];
  const names = header.map((h) => h.trim().toLowerCase());
  const col = (name: string) => {
    const index = names.indexOf(name);
    if (index < 0) throw new Error(`users seed file has no "${name}" column`);
    return index;
  };
  const [idCol, nameCol, passwordCol] = [col('id'), col('name'), col('password')];
  return rows.map((row, i) => {
    const user = {
      id: (row[idCol] ?? '').trim(),
      name: (row[nameCol] ?? '').trim(),
      password: row[passwordCol] ?? '',
    };
    if (!user.id || !user.name || !user.password) throw new Error(`users seed file row ${i + 2} lacks id, name or password`);
    return user;
  });
}

export async function readQuotesFile(path: string): Promise<string[]> {
  return parseQuotesFile(await readFile(path, 'utf8'));
}

export async function readUsersFile(path: string): Promise<SeedUser[]> {
  return parseUsersFile(await readFile(path, 'utf8'));
}
export { Seeder } from './seeder.ts';
