import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { appError } from '../../lib/errors/index.ts';
import type { AlertmanagerClient } from '../alertmanager-client/index.ts';
import type { IncidentStore } from '../incidents/index.ts';

export interface MaintenanceWindow {
  readonly id: string;
  readonly start: string;
  readonly end: string;
  readonly reason: string;
  readonly by: string;
  /** The Alertmanager silence that mutes the platform's alerts meanwhile. */
  readonly silence_id: string | null;
}

/** `30m`, `2h`, `1h30m` → milliseconds (at most 24 h). */
export function parseDuration(text: string): number {
  const match = /^(?:(\d+)h)?(?:(\d+)m)?$/.exec(text.trim());
  if (match === null || (match[1] === undefined && match[2] === undefined))
    throw appError('DURATION_INVALID', { detail: `duration must look like 30m, 2h or 1h30m, got "${text}"` });
  const ms = (Number(match[1] ?? 0) * 60 + Number(match[2] ?? 0)) * 60_000;
  if (ms <= 0 || ms > 86_400_000) {
    throw appError('DURATION_INVALID', { detail: 'a maintenance window lasts between 1 minute and 24 hours' });
  }
  return ms;
}

/** Owns the maintenance keys: `maintenance` hash, id → window JSON. */
export class MaintenanceStore {
  private readonly key: string;

  constructor(
    private readonly redis: Redis,
    prefix: string,
  ) {
    this.key = `${prefix}maintenance`;
  }

  async list(): Promise<MaintenanceWindow[]> {
    const all = (await this.redis.hvals(this.key)).map((j) => JSON.parse(j) as MaintenanceWindow);
    return all.sort((a, b) => (a.start < b.start ? 1 : -1));
  }

  async save(window: MaintenanceWindow): Promise<void> {
    await this.redis.hset(this.key, window.id, JSON.stringify(window));
  }
}

/**
 * Starts a maintenance window: silences every platform alert in Alertmanager
 * until it ends (so it ends by itself), records it for the KPI report and marks
 * the timeline of every open incident.
 */
export async function startMaintenance(
  deps: { store: MaintenanceStore; incidents: IncidentStore; alertmanager: AlertmanagerClient },
  input: { durationMs: number; reason: string; by: string; now?: Date },
): Promise<MaintenanceWindow> {
  const start = input.now ?? new Date();
  const end = new Date(start.getTime() + input.durationMs);
  const silenceId = await deps.alertmanager.silenceAll(start, end, input.by, `Maintenance: ${input.reason}`);
  const window: MaintenanceWindow = {
    id: randomUUID(),
    start: start.toISOString(),
    end: end.toISOString(),
    reason: input.reason,
    by: input.by,
    silence_id: silenceId,
  };
  await deps.store.save(window);
  await deps.incidents.markOpenIncidents('maintenance', `Maintenance window until ${window.end}: ${input.reason}`, input.by);
  return window;
}

/**
 * The window `id` names: its whole id, or the start of exactly one id (as
 * `maintenance list` shows them). Throws `MAINTENANCE_NOT_FOUND` when none
 * matches and `MAINTENANCE_ID_AMBIGUOUS`, listing the matches, when several do:
 * ending the wrong window would unmute alerts someone still needs silenced.
 */
export function findWindow(windows: readonly MaintenanceWindow[], id: string): MaintenanceWindow {
  const exact = windows.find((w) => w.id === id);
  if (exact !== undefined) return exact;
  const matches = id === '' ? [...windows] : windows.filter((w) => w.id.startsWith(id));
  if (matches.length === 1) return matches[0] as MaintenanceWindow;
  if (matches.length === 0) throw appError('MAINTENANCE_NOT_FOUND', { detail: `no maintenance window ${id}` });
  const listed = matches.map((w) => `${w.id} (${w.start}, ${w.reason})`).join('; ');
  throw appError('MAINTENANCE_ID_AMBIGUOUS', {
    detail: `"${id}" starts ${matches.length} maintenance window ids: ${listed}; give more of the id`,
  });
}

/** Ends a window early: the silence expires now and the window's end is moved to now. */
export async function endMaintenance(
  deps: { store: MaintenanceStore; alertmanager: AlertmanagerClient },
  id: string,
  now = new Date(),
): Promise<MaintenanceWindow> {
  const window = findWindow(await deps.store.list(), id);
  const nowIso = now.toISOString();
  const running = window.end > nowIso;
  if (window.silence_id !== null && running) await deps.alertmanager.expireSilence(window.silence_id);
  const ended = running ? { ...window, end: nowIso } : window;
  await deps.store.save(ended);
  return ended;
}

/** Fires one test alert through the real Alertmanager routes; it resolves by itself after `ttlMs`. */
export async function sendTestAlert(
  alertmanager: AlertmanagerClient,
  by: string,
  ttlMs = 120_000,
  now = new Date(),
): Promise<{ alertname: string; receivers: string[] }> {
  const alertname = 'HaddockTestAlert';
  await alertmanager.postAlerts([
    {
      labels: { alertname, severity: 'critical', service: 'platform', test: 'true' },
      annotations: {
        summary: 'Test alert: the notification chain works',
        description: `Sent by ${by} with "haddock alert test"; it resolves by itself.`,
      },
      startsAt: now.toISOString(),
      endsAt: new Date(now.getTime() + ttlMs).toISOString(),
    },
  ]);
  return { alertname, receivers: await alertmanager.receivers() };
}
