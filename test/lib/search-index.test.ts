import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Quote } from '../../src/services/quotes/quote-store.ts';
import { foldForIndex, foldKeyword, SegmentedIndex } from '../../src/services/search/segmented-index.ts';

/** The search service's index over `list`, as its chunked build fills it. */
function indexOf(list: readonly Quote[]): SegmentedIndex {
  const index = new SegmentedIndex();
  index.append(
    list.map((q) => q.id),
    list.map((q) => foldForIndex(q.quote)),
  );
  return index;
}

const quotes: Quote[] = [
  { id: 1, quote: 'Aérolithe' },
  { id: 2, quote: 'Bachi-bouzouk' },
  { id: 3, quote: 'Zouave\u00A0interplanétaire' },
  { id: 4, quote: 'Zouave à la noix de coco' },
  { id: 5, quote: 'Zouave zouave zouave' },
  { id: 6, quote: 'Mille sabords' },
];

const cases: ReadonlyArray<{ name: string; keyword: string; limit?: number; expected: number[] }> = [
  { name: 'finds a quote ignoring accents', keyword: 'aerolithe', expected: [1] },
  { name: 'finds a quote ignoring case', keyword: 'MILLE', expected: [6] },
  { name: 'matches a plain space against a non-breaking one', keyword: 'zouave interplanetaire', expected: [3] },
  { name: 'matches inside a word', keyword: 'bouz', expected: [2] },
  { name: 'returns every match in id order', keyword: 'zouave', expected: [3, 4, 5] },
  { name: 'returns each quote once even when it matches several times', keyword: 'zouave z', expected: [5] },
  { name: 'stops at the limit', keyword: 'zouave', limit: 2, expected: [3, 4] },
  { name: 'returns nothing when nothing matches', keyword: 'tonnerre de brest', expected: [] },
  { name: 'returns nothing for an empty keyword', keyword: '', expected: [] },
  { name: 'never matches across the end of one quote and the start of the next', keyword: 'lithe bachi', expected: [] },
  { name: 'never matches across two quotes with the separator itself', keyword: 'lithe\u0000bachi', expected: [] },
  { name: 'never matches the separator at the end of a quote', keyword: 'sabords\u0000', expected: [] },
  { name: 'finds a match in the last quote', keyword: 'sabords', expected: [6] },
];

for (const { name, keyword, limit, expected } of cases) {
  test(`SegmentedIndex ${name}`, () => {
    assert.deepEqual(indexOf(quotes).search(foldKeyword(keyword), limit ?? 100), expected);
  });
}

test('SegmentedIndex finds a quote whose text holds the separator character', () => {
  const index = indexOf([
    { id: 1, quote: 'a\u0000b' },
    { id: 2, quote: 'c' },
  ]);
  assert.deepEqual(index.search(foldKeyword('a\u0000b'), 10), [1]);
});

test('SegmentedIndex over no quotes finds nothing', () => {
  assert.deepEqual(new SegmentedIndex().search(foldKeyword('a'), 10), []);
});
