import { appendFile, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';

/** One alert of a webhook notification, as the sink records it. */
export interface AlertRecord {
  readonly receivedAt: string;
  readonly status: 'firing' | 'resolved';
  readonly alertname: string | null;
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
  readonly startsAt: string;
  readonly endsAt: string | null;
  readonly fingerprint: string | null;
}

/**
 * The received alerts: appended to a JSON-lines file (the durable record, one
 * line per alert) and the newest `limit` kept in memory for `GET /alerts`.
 */
export class AlertLog {
  private readonly recent: AlertRecord[] = [];
  private ready: Promise<unknown> | undefined;
  private writing: Promise<void> = Promise.resolve();

  constructor(
    readonly file: string,
    private readonly limit: number,
  ) {}

  /** Appends in arrival order: writes are chained so two notifications never interleave lines. */
  async append(records: readonly AlertRecord[]): Promise<void> {
    if (records.length === 0) return;
    this.ready ??= mkdir(dirname(this.file), { recursive: true });
    const text = records.map((record) => `${JSON.stringify(record)}\n`).join('');
    const write = this.writing.then(async () => {
      await this.ready;
      await appendFile(this.file, text);
    });
    // A failed write must not block the ones after it; the caller still sees the failure.
    this.writing = write.catch(() => {});
    await write;
    this.recent.push(...records);
    if (this.recent.length > this.limit) this.recent.splice(0, this.recent.length - this.limit);
  }

  /** The newest alerts, oldest first. */
  list(): readonly AlertRecord[] {
    return [...this.recent];
  }
}
