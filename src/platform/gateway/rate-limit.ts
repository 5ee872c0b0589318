/** What the limiter says about one request. */
export interface RateDecision {
  readonly allowed: boolean;
  readonly limit: number;
  readonly remaining: number;
  /** Whole seconds until the client's window resets (at least 1). */
  readonly resetSeconds: number;
}

interface Window {
  count: number;
  resetAt: number;
}

export interface FixedWindowOptions {
  readonly limit: number;
  readonly windowMs?: number;
  /** Most clients tracked at once; the oldest window is dropped beyond it. */
  readonly maxKeys?: number;
  readonly now?: () => number;
}

/**
 * A fixed-window counter per key (client IP), in memory. Each key's window
 * opens on its first request. The map is bounded: expired windows are swept
 * every window, and when it is full the oldest entry goes, so a flood of
 * spoofed addresses costs memory only up to `maxKeys`.
 */
export class FixedWindowLimiter {
  private readonly windows = new Map<string, Window>();
  private readonly limit: number;
  private readonly windowMs: number;
  private readonly maxKeys: number;
  private readonly now: () => number;
  private readonly sweeper: NodeJS.Timeout;

  constructor(options: FixedWindowOptions) {
    this.limit = options.limit;
    this.windowMs = options.windowMs ?? 60_000;
    this.maxKeys = options.maxKeys ?? 100_000;
    this.now = options.now ?? Date.now;
    this.sweeper = setInterval(() => this.sweep(), this.windowMs);
    this.sweeper.unref();
  }

  hit(key: string): RateDecision {
    const now = this.now();
    let window = this.windows.get(key);
    if (window === undefined || window.resetAt <= now) {
      if (window !== undefined) this.windows.delete(key);
      if (this.windows.size >= this.maxKeys) this.makeRoom(now);
      window = { count: 0, resetAt: now + this.windowMs };
      // Re-inserted so Map order stays oldest-window-first.
      this.windows.set(key, window);
    }
    window.count += 1;
    return {
      allowed: window.count <= this.limit,
      limit: this.limit,
      remaining: Math.max(0, this.limit - window.count),
      resetSeconds: Math.max(1, Math.ceil((window.resetAt - now) / 1000)),
    };
  }

  get size(): number {
    return this.windows.size;
  }

  sweep(now = this.now()): void {
    for (const [key, window] of this.windows) {
      if (window.resetAt <= now) this.windows.delete(key);
    }
  }

  close(): void {
    clearInterval(this.sweeper);
    this.windows.clear();
  }

  private makeRoom(now: number): void {
    this.sweep(now);
    if (this.windows.size < this.maxKeys) return;
    const oldest = this.windows.keys().next();
    if (oldest.done !== true) this.windows.delete(oldest.value);
  }
}
