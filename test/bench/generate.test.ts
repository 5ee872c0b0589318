// The growth curve's generator (bench/scale/generate.ts): same seed and size,
// byte-identical file; the planted words occur exactly as documented, as
// search folds them; the file reads back as the seed file the quotes service loads.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  COMMON_WORD,
  NO_MATCH_WORD,
  plantedCounts,
  RARE_QUERY,
  RARE_WORD,
  readCurses,
  writeSeedFile,
} from '../../bench/scale/generate.ts';
import { parseQuotesFile } from '../../src/lib/seed/index.ts';
import { foldText } from '../../src/lib/text/index.ts';

const sha256 = (buf: Buffer) => createHash('sha256').update(buf).digest('hex');

test('the same seed and size give byte-identical files; another seed another file', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'haddock-gen-'));
  try {
    const a = await writeSeedFile(join(dir, 'a.csv'), 1_000);
    const b = await writeSeedFile(join(dir, 'b.csv'), 1_000);
    const c = await writeSeedFile(join(dir, 'c.csv'), 1_000, 7);
    const [bytesA, bytesB] = await Promise.all([readFile(a.path), readFile(b.path)]);
    assert.equal(sha256(bytesA), sha256(bytesB));
    assert.equal(a.sha256, sha256(bytesA));
    assert.equal(a.bytes, bytesA.length);
    assert.notEqual(c.sha256, a.sha256);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('the planted words occur exactly as documented, and the file reads back as N quotes', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'haddock-gen-'));
  try {
    for (const n of [1_000, 10_000]) {
      const file = await writeSeedFile(join(dir, `${n}.csv`), n);
      const quotes = parseQuotesFile(await readFile(file.path, 'utf8'));
      assert.equal(quotes.length, n);
      const folded = quotes.map(foldText);
      const count = (word: string) => folded.filter((q) => q.includes(foldText(word))).length;
      assert.deepEqual(file.planted, { rare: 1, common: n / 20, noMatch: 0 });
      assert.equal(count(RARE_QUERY), file.planted.rare);
      assert.equal(count(RARE_WORD), file.planted.rare);
      assert.equal(count(COMMON_WORD), file.planted.common);
      assert.equal(count(NO_MATCH_WORD), 0);
      // The curses themselves appear: the lines are a mix, not filler alone.
      const curses = readCurses();
      assert.ok(quotes.slice(0, 50).every((q) => curses.some((c) => q.includes(c))));
    }
    assert.deepEqual(plantedCounts(100_000), { rare: 1, common: 5_000, noMatch: 0 });
    assert.deepEqual(plantedCounts(1_000_000), { rare: 10, common: 50_000, noMatch: 0 });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('no curse holds a planted word', () => {
  for (const curse of readCurses().map(foldText)) {
    for (const word of [RARE_QUERY, COMMON_WORD, NO_MATCH_WORD]) assert.ok(!curse.includes(word), `${curse} holds ${word}`);
  }
});
