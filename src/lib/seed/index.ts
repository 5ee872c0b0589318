import { readFile } from 'node:fs/promises';

/**
 * Reads the quotes seed file: a `quote` header, then one whole quote per line.
 * Lines are not CSV-quoted and may hold commas (`Blague, fumisterie et compagnie`
 * is one curse), so each line is taken whole. Surrounding double quotes, if a
 * future export adds them, are removed; blank lines are skipped.
 */
export function parseQuotesFile(text: string): string[] {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  const first = lines[0]?.trim().toLowerCase();
  const body = first === 'quote' ? lines.slice(1) : lines;
  return body
    .map((line) => line.trim())
    .filter((line) => line.length > 0)
    .map((line) =>
      line.length >= 2 && line.startsWith('"') && line.endsWith('"') ? line.slice(1, -1).replace(/""/g, '"') : line,
    );
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
