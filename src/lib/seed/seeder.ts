import type { FastifyBaseLogger } from 'fastify';

/**
 * Runs a service's one-time seeding at start-up (and again when Redis
 * reconnects, see `reseed`) and keeps retrying in the background while Redis
 * is unreachable; readiness reports `done` meanwhile.
 * Exactly-once across replicas is the store's job (a lease and chunk scripts
 * that advance a progress counter), not this.
 */
export class Seeder {
  private state: 'pending' | 'done' | 'failed' = 'pending';
  private lastError: unknown;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private started = false;
  private running = false;

  /**
   * @param startWaitMs how long `start()` (hence Fastify's `ready()`, whose hooks time out after 10 s) waits for
   * the first attempt; a longer seeding (a large file, or another replica's) goes on in the background, with
   * readiness failing until it is done.
   */
  constructor(
    private readonly name: string,
    private readonly seed: () => Promise<number>,
    private readonly log: FastifyBaseLogger,
    private readonly startWaitMs = 8_000,
  ) {}

  get done(): boolean {
    return this.state === 'done';
  }

  get error(): string | undefined {
    return this.lastError instanceof Error ? this.lastError.message : undefined;
  }

  /** Tries once now; on failure schedules retries and resolves anyway; resolves after `startWaitMs` at most. */
  async start(): Promise<void> {
    this.started = true;
    let timer: NodeJS.Timeout | undefined;
    const waited = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, this.startWaitMs);
    });
    await Promise.race([this.attempt(1), waited]);
    clearTimeout(timer);
  }

  /**
   * Seeds again after Redis came back: a restarted Redis without persistence is
   * an empty database, which a process start would seed too. The store's script
   * makes this a no-op when the data is still there.
   */
  reseed(): void {
    if (!this.started || this.stopped || this.running) return;
    clearTimeout(this.timer);
    // Not ready until we know the data is there again.
    this.state = 'pending';
    void this.attempt(1);
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  private async attempt(n: number): Promise<void> {
    if (this.stopped) return;
    this.running = true;
    try {
      const inserted = await this.seed();
      this.state = 'done';
      this.lastError = undefined;
      this.log.info({ seed: this.name, inserted }, inserted > 0 ? 'seed data loaded' : 'seed data already present');
    } catch (err) {
      this.state = 'failed';
      this.lastError = err;
      const delay = Math.min(500 * 2 ** (n - 1), 10_000);
      this.log.warn({ seed: this.name, err, retryInMs: delay }, 'seeding failed, will retry');
      this.timer = setTimeout(() => void this.attempt(n + 1), delay);
      this.timer.unref();
    } finally {
      this.running = false;
    }
  }
}
