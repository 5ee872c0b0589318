/**
 * A five-field cron expression (minute hour day-of-month month day-of-week),
 * evaluated in UTC: `*`, lists `1,15`, ranges `1-5`, steps `*\/15` and `8-18/2`.
 * Day-of-week 0 and 7 are Sunday. As in cron, when both day fields are
 * restricted a day matching either runs.
 */
export interface CronSchedule {
  readonly expression: string;
  matches(date: Date): boolean;
  /** The first matching minute strictly after `from`. */
  next(from: Date): Date;
}

const FIELDS = [
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day of month', min: 1, max: 31 },
  { name: 'month', min: 1, max: 12 },
  { name: 'day of week', min: 0, max: 7 },
] as const;

function parseField(text: string, min: number, max: number, name: string): Set<number> {
  const values = new Set<number>();
  for (const part of text.split(',')) {
    const match = /^(\*|(\d+)(?:-(\d+))?)(?:\/(\d+))?$/.exec(part);
    if (match === null) throw new Error(`cron ${name}: cannot read "${part}"`);
    const [, whole, from, to, step] = match;
    const start = whole === '*' ? min : Number(from);
    const end = whole === '*' ? max : to !== undefined ? Number(to) : step !== undefined ? max : start;
    const by = step === undefined ? 1 : Number(step);
    if (start < min || end > max || start > end || by < 1) throw new Error(`cron ${name}: "${part}" is outside ${min}-${max}`);
    for (let v = start; v <= end; v += by) values.add(v);
  }
  return values;
}

export function parseCron(expression: string): CronSchedule {
  const parts = expression.trim().split(/\s+/);
  if (parts.length !== 5) throw new Error(`cron expression needs 5 fields, got ${parts.length}: "${expression}"`);
  const [minutes, hours, days, months, weekdays] = parts.map((p, i) => {
    const field = FIELDS[i] as (typeof FIELDS)[number];
    return parseField(p, field.min, field.max, field.name);
  }) as [Set<number>, Set<number>, Set<number>, Set<number>, Set<number>];
  if (weekdays.has(7)) weekdays.add(0);
  const dayRestricted = parts[2] !== '*';
  const weekdayRestricted = parts[4] !== '*';

  const matches = (date: Date): boolean => {
    if (!minutes.has(date.getUTCMinutes()) || !hours.has(date.getUTCHours()) || !months.has(date.getUTCMonth() + 1)) return false;
    const dayOk = days.has(date.getUTCDate());
    const weekdayOk = weekdays.has(date.getUTCDay());
    if (dayRestricted && weekdayRestricted) return dayOk || weekdayOk;
    return dayOk && weekdayOk;
  };

  return {
    expression,
    matches,
    next(from: Date): Date {
      const t = new Date(from.getTime());
      t.setUTCSeconds(0, 0);
      // At most ~4 years of minutes: enough for any valid expression (29 February included).
      for (let i = 0; i < 4 * 366 * 24 * 60; i++) {
        t.setUTCMinutes(t.getUTCMinutes() + 1);
        if (matches(t)) return new Date(t.getTime());
      }
      throw new Error(`cron expression "${expression}" never matches`);
    },
  };
}
