import { foldText } from '../../lib/text/index.ts';

// Folded texts are joined into one UTF-8 buffer per segment with a separator no folded text contains, so a
// search is a few `Buffer.indexOf` calls over contiguous memory instead of one `includes` per quote, and the
// index holds no per-quote object: a quote costs its id (8 bytes), its start (4 bytes) and its folded text in
// UTF-8 plus one separator byte. UTF-8 rather than a JavaScript string: V8 keeps a string in two bytes a
// character as soon as one character is above U+00FF (a dash in 3% of the texts puts one in every segment),
// and a UTF-8 needle can only match a UTF-8 haystack on character boundaries, so byte matching is exact.
const SEPARATOR = '\u0000';

/** Most quotes in one segment: small enough that rebuilding one after a write costs about a millisecond. */
export const SEGMENT_SIZE = 4_096;

// Each segment carries a filter of the byte n-grams (1, 2 and 3 bytes) its haystack holds, one bit per hashed
// n-gram: a keyword with an n-gram missing from a segment's filter cannot occur in it, so the segment is skipped.
// A rare or absent word then reads a few segments instead of the whole catalogue. 2^16 bits (8 KiB) a segment.
const FILTER_BITS = 16;
const FILTER_SHIFT = 32 - FILTER_BITS;
const HASH = 0x9e3779b1;

function gramBit(gram: number): number {
  return Math.imul(gram, HASH) >>> FILTER_SHIFT;
}

/** The bits a keyword needs in a segment's filter: its trigrams, or its one bigram or byte when shorter. */
function keywordBits(keyword: Buffer): number[] {
  const n = keyword.length;
  if (n === 1) return [gramBit(0x1000000 | (keyword[0] as number))];
  if (n === 2) return [gramBit(0x2000000 | ((keyword[0] as number) << 8) | (keyword[1] as number))];
  const bits: number[] = [];
  for (let i = 0; i + 2 < n; i++) {
    bits.push(gramBit(((keyword[i] as number) << 16) | ((keyword[i + 1] as number) << 8) | (keyword[i + 2] as number)));
  }
  return bits;
}

function filterOf(haystack: Buffer): Uint32Array {
  const filter = new Uint32Array(1 << (FILTER_BITS - 5));
  const set = (bit: number) => {
    filter[bit >>> 5] = (filter[bit >>> 5] as number) | (1 << (bit & 31));
  };
  const n = haystack.length;
  for (let i = 0; i < n; i++) {
    const a = haystack[i] as number;
    set(gramBit(0x1000000 | a));
    if (i + 1 < n) {
      const b = haystack[i + 1] as number;
      set(gramBit(0x2000000 | (a << 8) | b));
      if (i + 2 < n) set(gramBit((a << 16) | (b << 8) | (haystack[i + 2] as number)));
    }
  }
  return filter;
}

/** How a quote's text is held in the index: folded, with the separator (which no stored text may hold) made a space. */
export function foldForIndex(text: string): string {
  return foldText(text).replaceAll(SEPARATOR, ' ');
}

/** How a keyword is looked for: folded as the texts were, so it can never match across two quotes. */
export function foldKeyword(keyword: string): string {
  return foldForIndex(keyword);
}

/** A keyword ready to look for in every segment: its bytes and the filter bits it needs. */
interface Needle {
  readonly bytes: Buffer;
  readonly bits: readonly number[];
}

/**
 * An immutable run of quotes in id order: their ids, where each begins in the
 * haystack, the haystack (every folded text in UTF-8, joined by the separator)
 * and its n-gram filter. Ids are doubles, exact up to 2^53 − 1
 * (`Number.MAX_SAFE_INTEGER`).
 */
class Segment {
  private constructor(
    readonly ids: Float64Array,
    private readonly starts: Int32Array,
    private readonly haystack: Buffer,
    private readonly filter: Uint32Array,
  ) {}

  /** `ids` strictly increasing, `texts[i]` already folded by {@link foldForIndex}. */
  static of(ids: readonly number[], texts: readonly string[]): Segment {
    const starts = new Int32Array(texts.length);
    let offset = 0;
    for (let i = 0; i < texts.length; i++) {
      starts[i] = offset;
      offset += Buffer.byteLength(texts[i] as string) + 1;
    }
    // Buffer.from of a large string gets its own memory, never a slice of the shared pool.
    const haystack = Buffer.from(texts.join(SEPARATOR), 'utf8');
    return new Segment(Float64Array.from(ids), starts, haystack, filterOf(haystack));
  }

  get size(): number {
    return this.ids.length;
  }

  get firstId(): number {
    return this.ids[0] as number;
  }

  get lastId(): number {
    return this.ids[this.ids.length - 1] as number;
  }

  /** Bytes held: the haystack (separators included), the ids, the starts and the filter. */
  get bytes(): number {
    return this.haystack.length + this.ids.byteLength + this.starts.byteLength + this.filter.byteLength;
  }

  /** The folded text of the i-th quote, cut out of the haystack. */
  text(i: number): string {
    const end = i + 1 < this.starts.length ? (this.starts[i + 1] as number) - 1 : this.haystack.length;
    return this.haystack.toString('utf8', this.starts[i] as number, end);
  }

  /** Every (id, folded text) pair, for rebuilding the segment with changes. */
  entries(): { ids: number[]; texts: string[] } {
    const ids = Array.from(this.ids);
    const texts = ids.map((_, i) => this.text(i));
    return { ids, texts };
  }

  /** False when the keyword certainly does not occur here (an n-gram of it is missing). */
  mayHold(needle: Needle): boolean {
    for (const bit of needle.bits) {
      if (((this.filter[bit >>> 5] as number) & (1 << (bit & 31))) === 0) return false;
    }
    return true;
  }

  /** Appends to `out` the ids of the quotes containing the keyword, in id order, until `out` holds `limit`. */
  collect(needle: Needle, limit: number, out: number[]): void {
    let from = 0;
    while (out.length < limit) {
      const at = this.haystack.indexOf(needle.bytes, from);
      if (at < 0) return;
      const i = this.quoteAt(at);
      out.push(this.ids[i] as number);
      // Continue after this quote: one result per quote.
      if (i + 1 >= this.starts.length) return;
      from = this.starts[i + 1] as number;
    }
  }

  private quoteAt(position: number): number {
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((this.starts[mid] as number) <= position) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }
}

/** Ids and folded texts in id order, split into segments of at most {@link SEGMENT_SIZE}, as even as possible. */
function segmentsOf(ids: readonly number[], texts: readonly string[]): Segment[] {
  if (ids.length === 0) return [];
  const count = Math.ceil(ids.length / SEGMENT_SIZE);
  const per = Math.ceil(ids.length / count);
  const out: Segment[] = [];
  for (let i = 0; i < ids.length; i += per) out.push(Segment.of(ids.slice(i, i + per), texts.slice(i, i + per)));
  return out;
}

/** What one id becomes: its folded text, or null when the quote is gone. */
export type IndexChanges = ReadonlyMap<number, string | null>;

/** Sizes of the index, for logs and the memory report. */
export interface IndexStats {
  readonly quotes: number;
  readonly segments: number;
  /** Bytes the segments hold: haystacks (UTF-8, separators included), ids, starts and filters. */
  readonly bytes: number;
}

/**
 * The folded texts of the whole catalogue, in segments of at most
 * {@link SEGMENT_SIZE} quotes ordered by id. A search walks the segments in
 * order and returns ids only (the caller fetches the page of quotes); a
 * change rebuilds only the segments it touches. Not safe across `await`s by
 * design: every method is synchronous, so a search never sees half a change.
 */
export class SegmentedIndex {
  private segments: Segment[] = [];
  private count = 0;

  get size(): number {
    return this.count;
  }

  /** The highest id held, 0 when empty. */
  get lastId(): number {
    return this.segments.at(-1)?.lastId ?? 0;
  }

  stats(): IndexStats {
    return {
      quotes: this.count,
      segments: this.segments.length,
      bytes: this.segments.reduce((sum, s) => sum + s.bytes, 0),
    };
  }

  /**
   * Adds quotes whose ids are all above {@link lastId}, in increasing order
   * (the chunked build, and new quotes from the change stream). `texts` are
   * folded by {@link foldForIndex}. Fills the last segment, then opens new ones.
   */
  append(ids: readonly number[], texts: readonly string[]): void {
    if (ids.length === 0) return;
    let allIds = ids;
    let allTexts = texts;
    const last = this.segments.at(-1);
    if (last !== undefined && last.size < SEGMENT_SIZE) {
      const held = last.entries();
      allIds = held.ids.concat(ids);
      allTexts = held.texts.concat(texts);
      this.segments.pop();
      this.count -= last.size;
    }
    // Full segments while there is enough, the rest in a last one the next append fills.
    for (let i = 0; i < allIds.length; i += SEGMENT_SIZE) {
      this.segments.push(Segment.of(allIds.slice(i, i + SEGMENT_SIZE), allTexts.slice(i, i + SEGMENT_SIZE)));
    }
    this.count += allIds.length;
  }

  /**
   * Applies the final state of each changed id: a text puts it (new or
   * replaced), null removes it (absent already: nothing happens). Only the
   * segments holding a changed id are rebuilt; ids above {@link lastId} are
   * appended.
   */
  apply(changes: IndexChanges): void {
    const appended: [number, string][] = [];
    const bySegment = new Map<number, [number, string | null][]>();
    const lastId = this.lastId;
    for (const [id, text] of changes) {
      if (id > lastId) {
        if (text !== null) appended.push([id, text]);
        continue;
      }
      const at = this.segmentFor(id);
      const list = bySegment.get(at);
      if (list === undefined) bySegment.set(at, [[id, text]]);
      else list.push([id, text]);
    }
    // From the last segment down, so replacing one by zero or several segments keeps the others' indices.
    for (const at of [...bySegment.keys()].sort((a, b) => b - a)) {
      this.rewrite(at, bySegment.get(at) as [number, string | null][]);
    }
    appended.sort((a, b) => a[0] - b[0]);
    this.append(
      appended.map(([id]) => id),
      appended.map(([, text]) => text),
    );
  }

  /** Ids of the quotes containing `foldedKeyword` (from {@link foldKeyword}), in id order, at most `limit`. */
  search(foldedKeyword: string, limit: number): number[] {
    const found: number[] = [];
    if (foldedKeyword.length === 0 || limit <= 0) return found;
    const bytes = Buffer.from(foldedKeyword, 'utf8');
    const needle: Needle = { bytes, bits: keywordBits(bytes) };
    for (const segment of this.segments) {
      if (!segment.mayHold(needle)) continue;
      segment.collect(needle, limit, found);
      if (found.length >= limit) break;
    }
    return found;
  }

  /** The folded text held for `id`, or undefined (tests and diagnostics). */
  textOf(id: number): string | undefined {
    if (this.segments.length === 0) return undefined;
    const segment = this.segments[this.segmentFor(id)] as Segment;
    const i = indexOfId(segment.ids, id);
    return i < 0 ? undefined : segment.text(i);
  }

  /** The segment that holds `id` or would: the last one whose first id is at most `id` (the first one below them all). */
  private segmentFor(id: number): number {
    let lo = 0;
    let hi = this.segments.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((this.segments[mid] as Segment).firstId <= id) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  /** Rebuilds segment `at` with `changes` merged in; an emptied segment goes, a small one joins its successor. */
  private rewrite(at: number, changes: [number, string | null][]): void {
    const segment = this.segments[at] as Segment;
    changes.sort((a, b) => a[0] - b[0]);
    const held = segment.entries();
    const ids: number[] = [];
    const texts: string[] = [];
    let c = 0;
    for (let h = 0; h <= held.ids.length; h++) {
      const heldId = h < held.ids.length ? (held.ids[h] as number) : Number.POSITIVE_INFINITY;
      while (c < changes.length && (changes[c] as [number, string | null])[0] < heldId) {
        const [id, text] = changes[c++] as [number, string | null];
        if (text !== null) {
          ids.push(id);
          texts.push(text);
        }
      }
      if (h === held.ids.length) break;
      if (c < changes.length && (changes[c] as [number, string | null])[0] === heldId) {
        const text = (changes[c++] as [number, string | null])[1];
        if (text !== null) {
          ids.push(heldId);
          texts.push(text);
        }
      } else {
        ids.push(heldId);
        texts.push(held.texts[h] as string);
      }
    }
    let replaced = 1;
    const next = this.segments[at + 1];
    if (next !== undefined && ids.length < SEGMENT_SIZE / 4 && ids.length + next.size <= SEGMENT_SIZE) {
      const more = next.entries();
      ids.push(...more.ids);
      texts.push(...more.texts);
      replaced = 2;
      this.count -= next.size;
    }
    this.count += ids.length - segment.size;
    this.segments.splice(at, replaced, ...segmentsOf(ids, texts));
  }
}

function indexOfId(ids: Float64Array, id: number): number {
  let lo = 0;
  let hi = ids.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const value = ids[mid] as number;
    if (value === id) return mid;
    if (value < id) lo = mid + 1;
    else hi = mid - 1;
  }
  return -1;
}
