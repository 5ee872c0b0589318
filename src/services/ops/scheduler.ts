import type { FastifyBaseLogger } from 'fastify';
import { parseCron } from '../../ops/schedule/cron.ts';

/**
 * Runs `job` at every minute its cron expression matches (UTC). One run at a
 * time: a run still going when the next is due makes that one skip, logged.
 */
export class CronRunner {
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private stopped = false;

  constructor(
    private readonly expression: string,
    private readonly job: () => Promise<void>,
    private readonly log: FastifyBaseLogger,
    private readonly clock: () => Date = () => new Date(),
  ) {}

  start(): void {
    this.stopped = false;
    this.arm();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  /** When the next run is due. */
  nextRun(): Date {
    return parseCron(this.expression).next(this.clock());
  }

  private arm(): void {
    if (this.stopped) return;
    const due = this.nextRun();
    // Timers over ~24.8 days overflow; re-arm in steps.
    const delay = Math.min(due.getTime() - this.clock().getTime(), 2 ** 31 - 1);
    this.timer = setTimeout(() => void this.fire(due), Math.max(delay, 0));
    this.timer.unref();
  }

  private async fire(due: Date): Promise<void> {
    if (this.clock().getTime() < due.getTime()) return this.arm();
    if (this.running) {
      this.log.warn({ schedule: this.expression }, 'scheduled job still running, skipping this run');
    } else {
      this.running = true;
      try {
        await this.job();
      } catch (err) {
        this.log.error({ err, schedule: this.expression }, 'scheduled job failed');
      } finally {
        this.running = false;
      }
    }
    this.arm();
  }
}
