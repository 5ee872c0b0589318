import { foldText } from '../../lib/text/index.ts';
import type { Quote, QuoteSnapshot, QuoteStore } from '../quotes/quote-store.ts';

// Folded quotes are joined into one string with a separator no folded text
// contains, so a search is a few `indexOf` calls over contiguous memory
// (V8's string search) instead of 100,000 separate `includes`.
const SEPARATOR = '\u0000';

/** An immutable, folded copy of the quotes, built once per catalogue version. */
export class FoldedIndex {
  private readonly haystack: string;
  /** starts[i] is where quote i begins in the haystack. */
  private readonly starts: Int32Array;

  constructor(readonly quotes: readonly Quote[]) {
    const folded = quotes.map((q) => foldText(q.quote).replaceAll(SEPARATOR, ' '));
    this.starts = new Int32Array(folded.length);
    let offset = 0;
    folded.forEach((text, i) => {
      this.starts[i] = offset;
      offset += text.length + 1;
    });
    this.haystack = folded.join(SEPARATOR);
  }

  /** Quotes containing the folded keyword, in id order, at most `limit`. */
  search(foldedKeyword: string, limit: number): Quote[] {
    const found: Quote[] = [];
    if (foldedKeyword.length === 0) return found;
    // Folded as the quotes were: a separator in the keyword would otherwise match across two quotes.
    const keyword = foldedKeyword.replaceAll(SEPARATOR, ' ');
    let from = 0;
    while (found.length < limit) {
      const at = this.haystack.indexOf(keyword, from);
      if (at < 0) break;
      const i = this.quoteAt(at);
      found.push(this.quotes[i] as Quote);
      // Continue after this quote: one result per quote.
      from = i + 1 < this.starts.length ? (this.starts[i + 1] as number) : this.haystack.length;
    }
    return found;
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

/**
 * Search over the quotes catalogue. Reads the quotes keys only through the
 * quotes store's snapshot (one `GET version` per search); the folded index is
 * rebuilt only when the catalogue changed.
 */
export class QuoteSearch {
  private index: { version: string; index: FoldedIndex } | undefined;

  constructor(private readonly quotes: QuoteStore) {}

  async search(keyword: string, limit: number): Promise<Quote[]> {
    const snapshot = await this.quotes.all();
    return this.indexFor(snapshot).search(foldText(keyword), limit);
  }

  private indexFor(snapshot: QuoteSnapshot): FoldedIndex {
    if (this.index?.version !== snapshot.version) {
      this.index = { version: snapshot.version, index: new FoldedIndex(snapshot.quotes) };
    }
    return this.index.index;
  }
}
