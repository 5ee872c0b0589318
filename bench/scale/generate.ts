// The growth curve's catalogue: a fixed, repeatable QUOTES_SEED_FILE of N
// lines. The same seed and N give byte-identical files (a PRNG of our own,
// mulberry32, never Math.random). Each line mixes the curses of
// data/initial_data_quotes.csv with numbers and words; three tokens are
// planted at fixed positions so search has known answers at every size:
//
// - RARE `zygopétale` (search it as `zygopetale`: folding removes the accent):
//   one line per started block of 100,000, at the block's middle, so
//   ceil(N / 100,000) lines: 1 at 1,000, 10,000 and 100,000; 10 at 1,000,000.
// - COMMON `bigorneau`: every line whose index i (from 0) has i % 20 === 10,
//   so N / 20 lines (5 %): 50, 500, 5,000, 50,000.
// - NO-MATCH `quetzalcoatl`: in no line.
//
// None of the three occurs in the curses or the filler words (the test in
// test/bench/generate.test.ts counts them in a generated file). The file has
// the seed file's `quote` header, then one quote per line.
//
// CLI: node --import tsx bench/scale/generate.ts <N> <out-file> [seed]
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const RARE_WORD = 'zygopétale';
export const RARE_QUERY = 'zygopetale';
export const COMMON_WORD = 'bigorneau';
export const NO_MATCH_WORD = 'quetzalcoatl';
export const DEFAULT_SEED = 20_240_611;
const RARE_BLOCK = 100_000;
const COMMON_EVERY = 20;
const COMMON_AT = 10;

const FILLER = [
  'Moulinsart',
  'Karaboudjan',
  'Syldavie',
  'Bordurie',
  'Tournesol',
  'Castafiore',
  'Milou',
  'Nestor',
  'Licorne',
  'Rackham',
  'sous-marin',
  'fusée',
  'whisky',
  'Loch Lomond',
  'cargo',
  'goélette',
  'escale',
  'hublot',
  'cabestan',
  'bastingage',
  'gouvernail',
  'écoutille',
  'chaloupe',
  'amarre',
  'quai',
  'Tintin',
] as const;

/** mulberry32: a 32-bit state PRNG; returns a function giving integers in [0, 2^32). */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

/** The curses of data/initial_data_quotes.csv: the lines after the `quote` header, trimmed, blanks skipped. */
export function readCurses(path = fileURLToPath(new URL('../../data/initial_data_quotes.csv', import.meta.url))): string[] {
  const lines = readFileSync(path, 'utf8')
    .replace(/^\uFEFF/, '')
    .split(/\r?\n/);
  const body = lines[0]?.trim().toLowerCase() === 'quote' ? lines.slice(1) : lines;
  return body.map((l) => l.trim()).filter((l) => l.length > 0);
}

/** Line indices (from 0) that carry the rare word: the middle of each started block of 100,000. */
export function rareIndices(n: number): number[] {
  const out: number[] = [];
  for (let start = 0; start < n; start += RARE_BLOCK) {
    out.push(start + Math.floor(Math.min(RARE_BLOCK, n - start) / 2));
  }
  return out;
}

/** How many lines carry each planted word in a file of `n` lines. */
export function plantedCounts(n: number): { rare: number; common: number; noMatch: number } {
  return {
    rare: rareIndices(n).length,
    common: n > COMMON_AT ? Math.floor((n - 1 - COMMON_AT) / COMMON_EVERY) + 1 : 0,
    noMatch: 0,
  };
}

/** The lines of the catalogue, one by one (no header). */
export function* generateLines(n: number, seed = DEFAULT_SEED, curses = readCurses()): Generator<string> {
  const next = mulberry32(seed);
  const pick = <T>(list: readonly T[]): T => list[next() % list.length] as T;
  const rare = new Set(rareIndices(n));
  for (let i = 0; i < n; i++) {
    const curse = pick(curses);
    const word = pick(FILLER);
    const num = next() % 100_000;
    let line: string;
    switch (next() % 4) {
      case 0:
        line = `${curse} ${word} ${num}`;
        break;
      case 1:
        line = `${num} ${curse} de ${word}`;
        break;
      case 2:
        line = `${curse}, ${word} et ${pick(curses)} n°${num}`;
        break;
      default:
        line = `${word} : ${curse} (${num})`;
    }
    if (i % COMMON_EVERY === COMMON_AT) line = `${line} ${COMMON_WORD}`;
    if (rare.has(i)) line = `${RARE_WORD} ${line}`;
    yield line;
  }
}

export interface GeneratedFile {
  readonly path: string;
  readonly lines: number;
  readonly bytes: number;
  readonly sha256: string;
  readonly seed: number;
  readonly planted: { rare: number; common: number; noMatch: number };
}

/** Writes the seed file (`quote` header, then `n` lines) to `path`, in chunks; returns its size and digest. */
export async function writeSeedFile(path: string, n: number, seed = DEFAULT_SEED): Promise<GeneratedFile> {
  const file = await open(path, 'w');
  const hash = createHash('sha256');
  let bytes = 0;
  let chunk = 'quote\n';
  const flush = async () => {
    const buf = Buffer.from(chunk, 'utf8');
    hash.update(buf);
    bytes += buf.length;
    await file.write(buf);
    chunk = '';
  };
  try {
    for (const line of generateLines(n, seed)) {
      chunk += `${line}\n`;
      if (chunk.length > 1 << 20) await flush();
    }
    await flush();
  } finally {
    await file.close();
  }
  return { path, lines: n, bytes, sha256: hash.digest('hex'), seed, planted: plantedCounts(n) };
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [n, out, seed] = process.argv.slice(2);
  if (n === undefined || out === undefined || !/^\d+$/.test(n)) {
    console.error('usage: node --import tsx bench/scale/generate.ts <N> <out-file> [seed]');
    process.exit(2);
  }
  console.log(JSON.stringify(await writeSeedFile(out, Number(n), seed === undefined ? DEFAULT_SEED : Number(seed))));
}
