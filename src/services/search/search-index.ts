import { appError } from '../../lib/errors/index.ts';
import type { Redis } from '../../lib/redis/index.ts';
import type { Quote, QuoteStore } from '../quotes/quote-store.ts';
import { foldForIndex, foldKeyword, type IndexStats, SEGMENT_SIZE, SegmentedIndex } from './segmented-index.ts';

/** What a search answers: the quotes containing a keyword, in id order. */
export interface QuoteFinder {
  search(keyword: string, limit: number): Promise<Quote[]>;
}

/** One entry of the catalogue's change stream: a quote put (created or updated) or deleted. */
export interface CatalogueChange {
  readonly streamId: string;
  readonly op: 'put' | 'del';
  readonly id: number;
  readonly quote?: Quote;
}

/**
 * What the index reads of the catalogue: the quotes store's chunked reads and
 * change stream, with the blocking reader's dedicated client bound in by the
 * caller (the store's `readChanges(client, …)`).
 */
export interface CatalogueSource {
  /** Quotes with ids above `afterId`, in id order, at most `count`. */
  readChunk(afterId: number, count: number): Promise<Quote[]>;
  /** The quotes of `ids` that exist, in the order asked. */
  getMany(ids: readonly number[]): Promise<Quote[]>;
  /** A token that changes whenever the catalogue changes outside the stream (seed, restore, emptied Redis). */
  generation(): Promise<string>;
  /** The newest stream entry's id, `0-0` when none. */
  streamHead(): Promise<string>;
  /** Changes after `afterId`, blocking up to `blockMs`; `trimmed` when entries after `afterId` were trimmed away. */
  readChanges(afterId: string, blockMs: number, count: number): Promise<{ entries: CatalogueChange[]; trimmed: boolean }>;
}

/** The quotes store as a {@link CatalogueSource}, its change stream read on `reader` (a connection of its own). */
export function storeSource(store: QuoteStore, reader: Redis): CatalogueSource {
  return {
    readChunk: (afterId, count) => store.readChunk(afterId, count),
    getMany: (ids) => store.getMany(ids),
    generation: () => store.generation(),
    streamHead: () => store.streamHead(),
    readChanges: (afterId, blockMs, count) => store.readChanges(reader, afterId, blockMs, count),
  };
}

/** What the index logs: a pino logger fits. */
export interface IndexLog {
  info(data: object, message: string): void;
  warn(data: object, message: string): void;
}

export interface QuoteSearchOptions {
  readonly log?: IndexLog;
  /** Quotes per `readChunk` while building (each read well under the command timeout). */
  readonly chunkSize?: number;
  /** How long one blocking read of the stream waits; the generation is checked once per read. */
  readonly blockMs?: number;
  /** Most stream entries applied at once. */
  readonly batchSize?: number;
  /** How long a search made before the first build waits for it before answering 503. */
  readonly firstBuildWaitMs?: number;
  /**
   * How long a search waits for the index to catch up with the stream before answering from it as it is; a
   * rebuild is waited for only until this long after it began.
   */
  readonly catchUpWaitMs?: number;
}

/** Quotes folded between two yields to the event loop while building. */
const FOLD_SLICE = 500;

const QUIET_LOG: IndexLog = { info: () => undefined, warn: () => undefined };

/** Orders two stream ids (`<ms>-<seq>`). */
export function compareStreamIds(a: string, b: string): number {
  const [aMs = 0, aSeq = 0] = a.split('-').map(Number);
  const [bMs = 0, bSeq = 0] = b.split('-').map(Number);
  return aMs === bMs ? aSeq - bSeq : aMs - bMs;
}

/**
 * Search over an in-memory {@link SegmentedIndex} kept up to date with the
 * catalogue:
 *
 * - **Build**: read the generation G and the stream head H, then the
 *   catalogue in chunks; if the generation moved meanwhile, build again.
 *   Changes made during the build are after H, so following from H misses
 *   none (those the chunks already saw are applied again, harmlessly: a put
 *   carries the whole quote, a delete of an absent quote does nothing).
 * - **Follow**: a blocking read of the stream from the position applies each
 *   batch (last state per id) to the segments it touches. After each read the
 *   generation is compared: a new one, or a position trimmed out of the
 *   stream, rebuilds in the background while the old index keeps answering,
 *   and the new one is swapped in whole.
 * - **Search**: one round trip reads the stream head and the generation; if
 *   the index is behind (a write just made on any replica), the search waits
 *   (bounded) for the follower to apply it, so a search after a write sees it.
 *   The matching ids' quotes are then fetched in one `getMany`, and checked
 *   again against the keyword (a quote changed since is left out).
 */
export class QuoteSearch implements QuoteFinder {
  private index: SegmentedIndex | undefined;
  private generation = '';
  /** Stream id of the last change the index holds. */
  private position = '0-0';
  /** Bumped at each swap: a follower read begun before it is dropped. */
  private epoch = 0;
  private rebuildTask: Promise<void> | undefined;
  private rebuildStartedAt = 0;
  private loop: Promise<void> | undefined;
  private stopped = false;
  private waiters: { target: string; resolve: () => void }[] = [];
  private readonly builtOnce: Promise<void>;
  private markBuilt: () => void = () => undefined;
  private readonly log: IndexLog;
  private readonly chunkSize: number;
  private readonly blockMs: number;
  private readonly batchSize: number;
  private readonly firstBuildWaitMs: number;
  private readonly catchUpWaitMs: number;

  constructor(
    private readonly source: CatalogueSource,
    options: QuoteSearchOptions = {},
  ) {
    this.log = options.log ?? QUIET_LOG;
    this.chunkSize = options.chunkSize ?? 5_000;
    this.blockMs = options.blockMs ?? 1_000;
    this.batchSize = options.batchSize ?? 1_000;
    this.firstBuildWaitMs = options.firstBuildWaitMs ?? 2_000;
    this.catchUpWaitMs = options.catchUpWaitMs ?? 200;
    this.builtOnce = new Promise((resolve) => {
      this.markBuilt = resolve;
    });
  }

  /** True once the first build finished (readiness). */
  get ready(): boolean {
    return this.index !== undefined;
  }

  /** True while a rebuild runs (the previous index answers meanwhile). */
  get rebuilding(): boolean {
    return this.rebuildTask !== undefined;
  }

  /** Sizes of the current index, undefined before the first build. */
  stats(): IndexStats | undefined {
    return this.index?.stats();
  }

  /** Builds, then follows the stream until {@link stop}. */
  start(): void {
    this.loop ??= this.run();
  }

  /**
   * Stops following. The caller closes the blocking reader's client, which
   * ends the read in progress; the returned promise settles once the loop is out.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const waiter of this.waiters.splice(0)) waiter.resolve();
    await this.loop;
  }

  async search(keyword: string, limit: number): Promise<Quote[]> {
    await this.whenBuilt();
    await this.catchUp();
    const folded = foldKeyword(keyword);
    const ids = (this.index as SegmentedIndex).search(folded, limit);
    if (ids.length === 0) return [];
    const quotes = await this.source.getMany(ids);
    return quotes.filter((q) => foldForIndex(q.quote).includes(folded));
  }

  private async whenBuilt(): Promise<void> {
    if (this.index !== undefined) return;
    await bounded(this.builtOnce, this.firstBuildWaitMs);
    if (this.index === undefined) throw appError('REDIS_UNAVAILABLE', { detail: 'search index not built yet' });
  }

  /**
   * Read-your-writes: waits (bounded) until the index holds every change made before this search began. A
   * rebuild is waited for only in its first `catchUpWaitMs`: a small catalogue's rebuild ends within it (a
   * search right after a seed or a restore sees it), a large one's does not, and the searches made meanwhile
   * answer from the previous index at once instead of each waiting.
   */
  private async catchUp(): Promise<void> {
    const [head, generation] = await Promise.all([this.source.streamHead(), this.source.generation()]);
    if (generation !== this.generation && this.rebuildTask === undefined) this.requestRebuild('generation changed');
    if (this.rebuildTask !== undefined) {
      const left = this.rebuildStartedAt + this.catchUpWaitMs - performance.now();
      if (left > 0) await bounded(this.rebuildTask, left);
    } else if (compareStreamIds(head, this.position) > 0) {
      await bounded(this.reached(head), this.catchUpWaitMs);
    }
  }

  /** Resolves once the index holds the change `target` (or {@link stop}). */
  private reached(target: string): Promise<void> {
    if (this.stopped || compareStreamIds(target, this.position) <= 0) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ target, resolve }));
  }

  private advance(position: string): void {
    this.position = position;
    this.waiters = this.waiters.filter((waiter) => {
      if (compareStreamIds(waiter.target, position) > 0) return true;
      waiter.resolve();
      return false;
    });
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (!this.stopped) {
      try {
        if (this.index === undefined) await this.requestRebuild('start');
        else await this.followOnce();
        failures = 0;
      } catch (err) {
        if (this.stopped) break;
        failures++;
        this.log.warn({ err, failures }, 'search index: reading the catalogue failed, retrying');
        await sleep(Math.min(100 * 2 ** failures, 2_000));
      }
    }
  }

  private async followOnce(): Promise<void> {
    const epoch = this.epoch;
    const { entries, trimmed } = await this.source.readChanges(this.position, this.blockMs, this.batchSize);
    if (this.rebuildTask !== undefined) {
      await this.rebuildTask;
      return;
    }
    const generation = await this.source.generation();
    // A rebuild swapped in meanwhile: its position is the one to follow from.
    if (this.stopped || epoch !== this.epoch || this.rebuildTask !== undefined) return;
    if (trimmed || generation !== this.generation) {
      await this.requestRebuild(trimmed ? 'stream trimmed past the index position' : 'generation changed');
      return;
    }
    const last = entries.at(-1);
    if (last === undefined) return;
    const changes = new Map<number, string | null>();
    for (const change of entries) {
      changes.set(change.id, change.op === 'put' && change.quote !== undefined ? foldForIndex(change.quote.quote) : null);
    }
    (this.index as SegmentedIndex).apply(changes);
    this.advance(last.streamId);
  }

  /** Starts a rebuild unless one runs; resolves when the one running ends. */
  private requestRebuild(reason: string): Promise<void> {
    if (this.rebuildTask === undefined) {
      this.rebuildStartedAt = performance.now();
      const task = this.rebuild(reason).finally(() => {
        this.rebuildTask = undefined;
      });
      this.rebuildTask = task;
      // A search that asked does not wait for the end: the loop sees the failure, logs it and retries.
      task.catch(() => undefined);
    }
    return this.rebuildTask;
  }

  private async rebuild(reason: string): Promise<void> {
    const started = performance.now();
    for (let attempt = 1; !this.stopped; attempt++) {
      const generation = await this.source.generation();
      const head = await this.source.streamHead();
      const index = new SegmentedIndex();
      // Folded quotes wait here until they fill whole segments: each append then seals segments once.
      let ids: number[] = [];
      let texts: string[] = [];
      let after = 0;
      for (;;) {
        const chunk = await this.source.readChunk(after, this.chunkSize);
        if (this.stopped) return;
        // Folding costs a few µs a quote: a slice at a time, letting searches run between slices.
        for (let i = 0; i < chunk.length; i += FOLD_SLICE) {
          for (const q of chunk.slice(i, i + FOLD_SLICE)) {
            if (q.id <= (ids.at(-1) ?? index.lastId)) continue;
            ids.push(q.id);
            texts.push(foldForIndex(q.quote));
          }
          await new Promise<void>((resolve) => setImmediate(resolve));
        }
        if (ids.length >= SEGMENT_SIZE) {
          const whole = ids.length - (ids.length % SEGMENT_SIZE);
          index.append(ids.slice(0, whole), texts.slice(0, whole));
          ids = ids.slice(whole);
          texts = texts.slice(whole);
        }
        // Only an empty chunk ends the walk: a short one may just have skipped ids missing from the hash.
        const last = chunk.at(-1);
        if (last === undefined) break;
        after = last.id;
      }
      index.append(ids, texts);
      if ((await this.source.generation()) !== generation) continue;
      this.index = index;
      this.generation = generation;
      this.epoch++;
      this.advance(head);
      this.markBuilt();
      const ms = Math.round(performance.now() - started);
      this.log.info({ reason, attempt, ms, ...index.stats() }, 'search index built');
      return;
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Waits for `promise` at most `ms`; never rejects (the caller looks at the state afterwards). */
async function bounded(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    promise.catch(() => undefined),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, ms);
    }),
  ]);
  clearTimeout(timer);
}
