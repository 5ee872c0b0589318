import { Cron, type CronOptions } from 'croner';

/**
 * A five-field cron expression (minute hour day-of-month month day-of-week),
 * read and evaluated by `croner` in UTC: `*`, lists `1,15`, ranges `1-5`,
 * steps `*\/15` and `8-18/2`, names (`MON`, `JAN`). Day-of-week 0 and 7 are
 * Sunday; as in cron, when both day fields are restricted a day matching
 * either runs.
 */
export interface CronSchedule {
  readonly expression: string;
  /** The first run strictly after `from`. */
  next(from: Date): Date;
}

/** How every schedule of the platform is read: five fields, UTC, day fields OR-ed as in cron. */
export const CRON_OPTIONS = { mode: '5-part', timezone: 'Etc/UTC', domAndDow: false } as const satisfies CronOptions;

/**
 * Reads `expression`; throws an Error whose message starts with `cron` when
 * it is not five valid fields, or when it never runs (`0 0 30 2 *`).
 */
export function parseCron(expression: string): CronSchedule {
  // croner also takes an ISO date (a one-off run) or six and seven fields; a schedule here is five fields only.
  const fields = expression
    .trim()
    .split(/\s+/)
    .filter((f) => f.length > 0);
  if (fields.length !== 5) throw new Error(`cron expression needs 5 fields, got ${fields.length}: "${expression}"`);
  let cron: Cron;
  try {
    // Without a function to run, croner only evaluates: no timer is set.
    cron = new Cron(fields.join(' '), CRON_OPTIONS);
  } catch (err) {
    throw new Error(`cron expression "${expression}": ${(err as Error).message.replace(/^CronPattern: /, '')}`);
  }
  if (cron.nextRun(new Date()) === null) throw new Error(`cron expression "${expression}" never matches`);
  return {
    expression,
    next(from: Date): Date {
      const at = cron.nextRun(from);
      if (at === null) throw new Error(`cron expression "${expression}" never matches after ${from.toISOString()}`);
      return at;
    },
  };
}
