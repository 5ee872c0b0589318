import assert from 'node:assert/strict';
import { test } from 'node:test';
import { foldText } from '../../src/lib/text/index.ts';
import type { Quote } from '../../src/services/quotes/quote-store.ts';
import {
  type CatalogueChange,
  type CatalogueSource,
  compareStreamIds,
  QuoteSearch,
} from '../../src/services/search/search-index.ts';
import { foldForIndex, foldKeyword, SEGMENT_SIZE, SegmentedIndex } from '../../src/services/search/segmented-index.ts';
import { seededRandom } from '../helpers/random.ts';

const WORDS = [
  'Zouave',
  'aérolithe',
  'Bachi-bouzouk',
  'mille',
  'sabords',
  'ŒUVRE',
  'tonnerre',
  'de',
  'Brest',
  'ectoplasme',
  'l’ours',
  'coup—de–tabac',
];
const KEYWORDS = [
  'zouave',
  'AEROLITHE',
  'oeuvre',
  'e',
  'mille sabords',
  "l'ours",
  'brest\u00A0zouave',
  'xyzzy',
  'de de',
  '—de–',
  '–',
  'zz',
  'z',
];
const SPACES = [' ', '\u00A0', '  ', '\u202F'];

function textOf(next: () => number): string {
  const n = 1 + Math.floor(next() * 4);
  let text = '';
  for (let i = 0; i < n; i++) {
    if (i > 0) text += SPACES[Math.floor(next() * SPACES.length)];
    text += WORDS[Math.floor(next() * WORDS.length)];
  }
  return text;
}

// The generated texts repeat: folding each distinct one once keeps the reference fast.
const foldedTexts = new Map<string, string>();
function folded(text: string): string {
  let result = foldedTexts.get(text);
  if (result === undefined) {
    result = foldText(text);
    foldedTexts.set(text, result);
  }
  return result;
}

/** The naive reference: every quote whose folded text contains the folded keyword, in id order. */
function naive(quotes: ReadonlyMap<number, string>, keyword: string, limit: number): number[] {
  const key = foldText(keyword);
  return [...quotes.entries()]
    .filter(([, text]) => folded(text).includes(key))
    .map(([id]) => id)
    .sort((a, b) => a - b)
    .slice(0, limit);
}

// ---------------------------------------------------------------- the segmented index alone

test('SegmentedIndex: search equals the naive reference after random puts, updates and deletes across many segments', () => {
  for (const seed of [1, 2]) {
    const next = seededRandom(seed);
    const truth = new Map<number, string>();
    const index = new SegmentedIndex();
    const ids: number[] = [];
    const texts: string[] = [];
    for (let id = 1; id <= 3 * SEGMENT_SIZE + 17; id++) {
      const text = textOf(next);
      truth.set(id, text);
      ids.push(id);
      texts.push(foldForIndex(text));
    }
    index.append(ids, texts);
    let lastId = ids.length;
    for (let round = 0; round < 20; round++) {
      const changes = new Map<number, string | null>();
      const size = 1 + Math.floor(next() * (round % 5 === 0 ? 3_000 : 50));
      for (let i = 0; i < size; i++) {
        const roll = next();
        if (roll < 0.2) {
          const text = textOf(next);
          lastId += 1 + Math.floor(next() * 3);
          truth.set(lastId, text);
          changes.set(lastId, foldForIndex(text));
        } else {
          const id = 1 + Math.floor(next() * lastId);
          if (roll < 0.6) {
            truth.delete(id);
            changes.set(id, null);
          } else {
            const text = textOf(next);
            truth.set(id, text);
            changes.set(id, foldForIndex(text));
          }
        }
      }
      index.apply(changes);
      assert.equal(index.size, truth.size, `seed ${seed} round ${round}: size`);
      for (const keyword of KEYWORDS) {
        for (const limit of [1, 20, 100_000]) {
          assert.deepEqual(
            index.search(foldKeyword(keyword), limit),
            naive(truth, keyword, limit),
            `seed ${seed} round ${round}: ${keyword}`,
          );
        }
      }
    }
    const { segments, quotes } = index.stats();
    assert.equal(quotes, truth.size);
    assert.ok(segments >= Math.ceil(truth.size / SEGMENT_SIZE), 'no segment holds more than SEGMENT_SIZE quotes');
  }
});

test('SegmentedIndex: deleting every quote empties it, and appending afterwards works', () => {
  const index = new SegmentedIndex();
  const n = 2 * SEGMENT_SIZE + 5;
  index.append(
    Array.from({ length: n }, (_, i) => i + 1),
    Array.from({ length: n }, () => 'zouave'),
  );
  assert.equal(index.stats().segments, 3);
  index.apply(new Map(Array.from({ length: n }, (_, i) => [i + 1, null] as const)));
  assert.deepEqual(index.stats(), { quotes: 0, segments: 0, bytes: 0 });
  assert.deepEqual(index.search('zouave', 10), []);
  index.apply(new Map([[n + 10, 'mille sabords']]));
  assert.deepEqual(index.search('sabords', 10), [n + 10]);
});

test('SegmentedIndex: a small segment left by deletes joins its successor', () => {
  const index = new SegmentedIndex();
  const n = 2 * SEGMENT_SIZE;
  index.append(
    Array.from({ length: n }, (_, i) => i + 1),
    Array.from({ length: n }, (_, i) => `q${i + 1}`),
  );
  const deletes = new Map<number, null>();
  for (let id = 1; id <= SEGMENT_SIZE - 10; id++) deletes.set(id, null);
  // The second segment must have room for the first one's remaining 10.
  for (let id = SEGMENT_SIZE + 1; id <= SEGMENT_SIZE + 20; id++) deletes.set(id, null);
  index.apply(deletes);
  assert.equal(index.stats().segments, 1);
  assert.equal(index.size, SEGMENT_SIZE - 10);
  assert.equal(index.textOf(SEGMENT_SIZE - 5), `q${SEGMENT_SIZE - 5}`);
});

test('SegmentedIndex: ids up to 2^53 − 1 are kept exactly', () => {
  const index = new SegmentedIndex();
  const big = Number.MAX_SAFE_INTEGER;
  index.append([1, big - 1, big], ['a', 'zouave', 'zouave']);
  assert.deepEqual(index.search('zouave', 10), [big - 1, big]);
});

test('SegmentedIndex: never matches across two quotes, nor the separator', () => {
  const index = new SegmentedIndex();
  index.append([1, 2], [foldForIndex('Aérolithe'), foldForIndex('Bachi-bouzouk')]);
  assert.deepEqual(index.search(foldKeyword('lithe bachi'), 10), []);
  assert.deepEqual(index.search(foldKeyword('lithe\u0000bachi'), 10), []);
  assert.deepEqual(index.search(foldKeyword('bouzouk'), 10), [2]);
});

test('compareStreamIds orders by milliseconds, then sequence', () => {
  assert.ok(compareStreamIds('10-0', '9-5') > 0);
  assert.ok(compareStreamIds('10-2', '10-10') < 0);
  assert.equal(compareStreamIds('0-0', '0-0'), 0);
});

// ---------------------------------------------------------------- the follower, on an in-memory catalogue

/** The quotes store's contract, in memory: a catalogue, its capped change stream and its generation. */
class MemoryCatalogue implements CatalogueSource {
  readonly quotes = new Map<number, Quote>();
  private stream: CatalogueChange[] = [];
  private seq = 0;
  private trimmedUpTo = '0-0';
  private gen = 'g1';
  private wake: (() => void)[] = [];
  lastId = 0;
  chunkReads = 0;
  /** When set, every readChunk waits for it (a slow build). */
  gate: Promise<void> | undefined;
  /** When set, every readChanges waits for it before looking at the stream (a follower held back). */
  readGate: Promise<void> | undefined;

  constructor(private readonly maxlen = Number.POSITIVE_INFINITY) {}

  private record(op: 'put' | 'del', id: number, quote?: Quote): void {
    this.stream.push({ streamId: `1-${++this.seq}`, op, id, ...(quote ? { quote } : {}) });
    while (this.stream.length > this.maxlen) this.trimmedUpTo = (this.stream.shift() as CatalogueChange).streamId;
    for (const wake of this.wake.splice(0)) wake();
  }

  create(text: string): number {
    const id = ++this.lastId;
    const quote = { id, quote: text };
    this.quotes.set(id, quote);
    this.record('put', id, quote);
    return id;
  }

  update(id: number, text: string): void {
    if (!this.quotes.has(id)) return;
    const quote = { id, quote: text };
    this.quotes.set(id, quote);
    this.record('put', id, quote);
  }

  remove(id: number): void {
    if (this.quotes.delete(id)) this.record('del', id);
  }

  /** Replaces the whole catalogue outside the stream, as a restore does. */
  restore(texts: readonly string[]): void {
    this.quotes.clear();
    texts.forEach((text, i) => {
      this.quotes.set(i + 1, { id: i + 1, quote: text });
    });
    this.lastId = texts.length;
    this.gen = `g${Number(this.gen.slice(1)) + 1}`;
  }

  texts(): Map<number, string> {
    return new Map([...this.quotes].map(([id, q]) => [id, q.quote]));
  }

  async readChunk(afterId: number, count: number): Promise<Quote[]> {
    this.chunkReads++;
    await this.gate;
    return [...this.quotes.values()]
      .filter((q) => q.id > afterId)
      .sort((a, b) => a.id - b.id)
      .slice(0, count);
  }

  async getMany(ids: readonly number[]): Promise<Quote[]> {
    return ids.flatMap((id) => this.quotes.get(id) ?? []);
  }

  async generation(): Promise<string> {
    return this.gen;
  }

  async streamHead(): Promise<string> {
    return this.stream.at(-1)?.streamId ?? this.trimmedUpTo;
  }

  async readChanges(afterId: string, blockMs: number, count: number) {
    await this.readGate;
    const pending = () => this.stream.filter((e) => compareStreamIds(e.streamId, afterId) > 0).slice(0, count);
    const trimmed = compareStreamIds(this.trimmedUpTo, afterId) > 0;
    if (!trimmed && pending().length === 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, blockMs);
        this.wake.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return { entries: pending(), trimmed: compareStreamIds(this.trimmedUpTo, afterId) > 0 };
  }
}

async function started(catalogue: MemoryCatalogue, chunkSize = 7): Promise<QuoteSearch> {
  const search = new QuoteSearch(catalogue, { chunkSize, blockMs: 50, catchUpWaitMs: 2_000, firstBuildWaitMs: 5_000 });
  search.start();
  await search.search('warm-up', 1);
  return search;
}

async function assertSameAsNaive(search: QuoteSearch, catalogue: MemoryCatalogue, what: string): Promise<void> {
  for (const keyword of KEYWORDS) {
    for (const limit of [1, 3, 1_000]) {
      const found = (await search.search(keyword, limit)).map((q) => q.id);
      assert.deepEqual(found, naive(catalogue.texts(), keyword, limit), `${what}: ${keyword} limit ${limit}`);
    }
  }
}

test('QuoteSearch: results equal the naive reference after interleaved creates, updates and deletes (read-your-writes)', async () => {
  for (const seed of [11, 12]) {
    const next = seededRandom(seed);
    const catalogue = new MemoryCatalogue();
    for (let i = 0; i < 60; i++) catalogue.create(textOf(next));
    const search = await started(catalogue);
    try {
      for (let round = 0; round < 30; round++) {
        const writes = 1 + Math.floor(next() * 8);
        for (let w = 0; w < writes; w++) {
          const roll = next();
          const id = 1 + Math.floor(next() * catalogue.lastId);
          if (roll < 0.4) catalogue.create(textOf(next));
          else if (roll < 0.7) catalogue.update(id, textOf(next));
          else catalogue.remove(id);
        }
        // No wait: the search itself catches up with the stream head before answering.
        await assertSameAsNaive(search, catalogue, `seed ${seed} round ${round}`);
      }
    } finally {
      await search.stop();
    }
  }
});

test('QuoteSearch: a stream trimmed past the index position rebuilds the whole index, and results are right after', async () => {
  const next = seededRandom(21);
  const catalogue = new MemoryCatalogue(5);
  for (let i = 0; i < 40; i++) catalogue.create(textOf(next));
  const search = await started(catalogue);
  try {
    // Hold the follower in its read while more is written than the stream keeps.
    let open: () => void = () => undefined;
    catalogue.readGate = new Promise((resolve) => {
      open = resolve;
    });
    await new Promise((resolve) => setTimeout(resolve, 100));
    const before = catalogue.chunkReads;
    for (let i = 0; i < 12; i++) catalogue.update(1 + (i % 40), textOf(next));
    catalogue.create('Zouave des Carpates');
    catalogue.readGate = undefined;
    open();
    await assertSameAsNaive(search, catalogue, 'after the trim');
    assert.ok(catalogue.chunkReads > before, 'the trimmed stream made the index read the whole catalogue again');
  } finally {
    await search.stop();
  }
});

test('QuoteSearch: a new generation (restore) rebuilds, and the restored catalogue is what a search finds', async () => {
  const catalogue = new MemoryCatalogue();
  catalogue.create('Zouave');
  catalogue.create('Mille sabords');
  const search = await started(catalogue);
  try {
    assert.deepEqual(
      (await search.search('sabords', 10)).map((q) => q.quote),
      ['Mille sabords'],
    );
    catalogue.restore(['Tonnerre de Brest', 'Sabords restaurés']);
    assert.deepEqual(
      (await search.search('sabords', 10)).map((q) => q.quote),
      ['Sabords restaurés'],
    );
    assert.deepEqual(
      (await search.search('zouave', 10)).map((q) => q.quote),
      [],
    );
  } finally {
    await search.stop();
  }
});

test('QuoteSearch: a generation that moves during the build makes it build again', async () => {
  const catalogue = new MemoryCatalogue();
  catalogue.create('Zouave');
  let open: () => void = () => undefined;
  catalogue.gate = new Promise((resolve) => {
    open = resolve;
  });
  const search = new QuoteSearch(catalogue, { chunkSize: 7, blockMs: 50 });
  search.start();
  try {
    await new Promise((resolve) => setTimeout(resolve, 20));
    catalogue.restore(['Ectoplasme']);
    catalogue.gate = undefined;
    open();
    assert.deepEqual(
      (await search.search('ectoplasme', 10)).map((q) => q.quote),
      ['Ectoplasme'],
    );
    assert.deepEqual(await search.search('zouave', 10), []);
  } finally {
    await search.stop();
  }
});

test('QuoteSearch: not ready, and a search answers 503, until the first build is done', async () => {
  const catalogue = new MemoryCatalogue();
  catalogue.create('Zouave');
  let open: () => void = () => undefined;
  catalogue.gate = new Promise((resolve) => {
    open = resolve;
  });
  const search = new QuoteSearch(catalogue, { firstBuildWaitMs: 50, blockMs: 50 });
  search.start();
  try {
    assert.equal(search.ready, false);
    await assert.rejects(search.search('zouave', 10), { code: 'REDIS_UNAVAILABLE', statusCode: 503 });
    open();
    catalogue.gate = undefined;
    assert.deepEqual(
      (await search.search('zouave', 10)).map((q) => q.id),
      [1],
    );
    assert.equal(search.ready, true);
  } finally {
    await search.stop();
  }
});

test('QuoteSearch: a quote changed between the index walk and the fetch is not answered if it no longer matches', async () => {
  const catalogue = new MemoryCatalogue();
  catalogue.create('Zouave');
  const search = await started(catalogue);
  try {
    const getMany = catalogue.getMany.bind(catalogue);
    catalogue.getMany = async (ids) => {
      catalogue.update(1, 'Mille sabords');
      return getMany(ids);
    };
    assert.deepEqual(await search.search('zouave', 10), []);
  } finally {
    await search.stop();
  }
});

test('QuoteSearch: while a rebuild is still reading the catalogue, searches answer from the previous index', async () => {
  const catalogue = new MemoryCatalogue();
  catalogue.create('Zouave');
  const search = new QuoteSearch(catalogue, { blockMs: 50, catchUpWaitMs: 30 });
  search.start();
  try {
    assert.deepEqual(
      (await search.search('zouave', 10)).map((q) => q.quote),
      ['Zouave'],
    );
    let open: () => void = () => undefined;
    catalogue.gate = new Promise((resolve) => {
      open = resolve;
    });
    catalogue.restore(['Ectoplasme']);
    // The restored catalogue cannot be read yet: both answers come from the old index (the quote fetched is
    // the restored one, and it no longer matches, so nothing is answered rather than a stale text).
    assert.deepEqual(await search.search('zouave', 10), []);
    assert.equal(search.rebuilding, true);
    assert.deepEqual(await search.search('ectoplasme', 10), []);
    assert.equal(search.rebuilding, true, 'the rebuild is still waiting for the catalogue');
    catalogue.gate = undefined;
    open();
    await eventually(async () => (await search.search('ectoplasme', 10)).length === 1);
  } finally {
    await search.stop();
  }
});

async function eventually(check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  assert.fail('not true after 2 s');
}
