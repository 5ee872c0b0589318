import { Cron } from 'croner';
import type { FastifyBaseLogger } from 'fastify';
import { CRON_OPTIONS, parseCron } from '../../ops/schedule/cron.ts';

/**
 * Runs `job` at every time its cron expression matches (UTC), on `croner`'s
 * timer. One run at a time: a run still going when the next is due makes that
 * one skip, logged; a failing run is logged and the schedule goes on.
 */
export class CronRunner {
  private cron: Cron | undefined;
  private running = false;

  constructor(
    private readonly expression: string,
    private readonly job: () => Promise<void>,
    private readonly log: FastifyBaseLogger,
    private readonly clock: () => Date = () => new Date(),
  ) {}

  start(): void {
    this.stop();
    // The process may end between two runs: the schedule never keeps it alive.
    this.cron = new Cron(this.expression, { ...CRON_OPTIONS, unref: true }, () => this.run());
  }

  // croner's own overrun protection retries a blocked run once the previous one ends; a backup due while the
  // last one still runs must be skipped, so the skip is decided here.
  private async run(): Promise<void> {
    if (this.running) {
      this.log.warn({ schedule: this.expression }, 'scheduled job still running, skipping this run');
      return;
    }
    this.running = true;
    try {
      await this.job();
    } catch (err) {
      this.log.error({ err, schedule: this.expression }, 'scheduled job failed');
    } finally {
      this.running = false;
    }
  }

  stop(): void {
    this.cron?.stop();
    this.cron = undefined;
  }

  /** When the next run is due. */
  nextRun(): Date {
    return parseCron(this.expression).next(this.clock());
  }
}
