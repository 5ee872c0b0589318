import type { Redis } from 'ioredis';
import { type AppError, appError } from '../../lib/errors/index.ts';
import { type Incident, type IncidentAlert, impactOf, type TimelineEvent, type TimelineKind } from './model.ts';

export function incidentKeys(prefix: string) {
  return {
    /** hash: incident id → incident JSON */
    incidents: `${prefix}incidents`,
    /** hash: service → id of its open incident (one open incident per service) */
    openByService: `${prefix}incidents:open`,
    /** string per year: last sequence number handed out */
    sequence: (year: number) => `${prefix}incidents:seq:${year}`,
  } as const;
}

/** The error `get` and every change throw for an unknown id: a 404 through the API, exit 1 in the CLI. */
function incidentNotFound(id: string): AppError {
  return appError('INCIDENT_NOT_FOUND', { detail: `no incident ${id}` });
}

const MAX_ATTEMPTS = 20;

/**
 * Owns the incident keys. Every change is an optimistic transaction (WATCH /
 * MULTI, retried on conflict), so several processes acting at once never lose
 * an event. WATCH belongs to a connection, and this process shares one, so
 * changes made here are also queued one after another.
 */
export class IncidentStore {
  readonly keys: ReturnType<typeof incidentKeys>;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly redis: Redis,
    prefix: string,
    private readonly clock: () => Date = () => new Date(),
  ) {
    this.keys = incidentKeys(prefix);
  }

  /** Runs `work` after every change queued before it in this process. */
  private serial<T>(work: () => Promise<T>): Promise<T> {
    const run = this.queue.then(work, work);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private now(): string {
    return this.clock().toISOString();
  }

  /** A new id as the spec writes them: INC-YYYY-NNN. */
  private async nextId(): Promise<string> {
    const year = this.clock().getUTCFullYear();
    const n = await this.redis.incr(this.keys.sequence(year));
    return `INC-${year}-${String(n).padStart(3, '0')}`;
  }

  async get(id: string): Promise<Incident> {
    const json = await this.redis.hget(this.keys.incidents, id);
    if (json === null) throw incidentNotFound(id);
    return JSON.parse(json) as Incident;
  }

  async list(): Promise<Incident[]> {
    const all = (await this.redis.hvals(this.keys.incidents)).map((j) => JSON.parse(j) as Incident);
    return all.sort((a, b) => (a.opened_at < b.opened_at ? 1 : a.opened_at > b.opened_at ? -1 : 0));
  }

  /**
   * Opens an incident by hand; it becomes the service's open incident. When
   * the service already has one (opened by monitoring, or by someone else a
   * moment before), that one is returned instead, with the report added to
   * its timeline as a note: one open incident per service, however many
   * people or processes report it at once (checked and written in one WATCH /
   * MULTI transaction, retried on conflict).
   */
  open(input: {
    title: string;
    service: string;
    severity: Incident['severity'];
    by: string;
    source?: Incident['source'];
  }): Promise<Incident> {
    return this.serial(() => this.openNow(input));
  }

  private async openNow(input: {
    title: string;
    service: string;
    severity: Incident['severity'];
    by: string;
    source?: Incident['source'];
  }): Promise<Incident> {
    // Handed out once: a retry after a conflict reuses it rather than leaving a gap in the numbering.
    let id: string | undefined;
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      await this.redis.watch(this.keys.openByService, this.keys.incidents);
      const openId = await this.redis.hget(this.keys.openByService, input.service);
      const current = openId === null ? null : await this.get(openId).catch(() => null);
      const at = this.now();
      if (current !== null && current.status !== 'resolved') {
        const joined: Incident = {
          ...current,
          timeline: [...current.timeline, event(at, 'note', `Also reported by ${input.by}: ${input.title}`, input.by)],
        };
        if ((await this.redis.multi().hset(this.keys.incidents, joined.id, JSON.stringify(joined)).exec()) !== null)
          return joined;
        continue;
      }
      id ??= await this.nextId();
      const incident: Incident = {
        id,
        title: input.title,
        service: input.service,
        severity: input.severity,
        impact: impactOf(input.severity),
        status: 'open',
        source: input.source ?? 'manual',
        opened_at: at,
        opened_by: input.by,
        alerts: [],
        timeline: [{ at, kind: 'opened', text: `Incident opened: ${input.title}`, by: input.by }],
      };
      const tx = this.redis
        .multi()
        .hset(this.keys.incidents, id, JSON.stringify(incident))
        .hset(this.keys.openByService, input.service, id);
      if ((await tx.exec()) !== null) return incident;
    }
    throw new Error('incident update kept conflicting; try again');
  }

  /**
   * Records one alert from Alertmanager. A firing alert joins the service's
   * open incident or opens one; a resolved alert closes its entry, and when
   * no alert of the incident still fires the incident is resolved.
   * Returns the incident touched, or null for a resolved alert with no incident.
   * `serviceLabel`: the alert's own service label, escaped, when `service` is
   * the placeholder standing for a label that was not a safe name.
   */
  recordAlert(alert: IncidentAlert, service: string, title: string, serviceLabel?: string): Promise<Incident | null> {
    return this.serial(() => this.recordAlertNow(alert, service, title, serviceLabel));
  }

  private async recordAlertNow(
    alert: IncidentAlert,
    service: string,
    title: string,
    serviceLabel: string | undefined,
  ): Promise<Incident | null> {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      await this.redis.watch(this.keys.openByService, this.keys.incidents);
      const openId = await this.redis.hget(this.keys.openByService, service);
      const current = openId === null ? null : await this.get(openId).catch(() => null);
      const at = this.now();
      let next: Incident;
      if (current === null) {
        if (alert.status === 'resolved') {
          await this.redis.unwatch();
          return null;
        }
        const id = await this.nextId();
        const filed = serviceLabel === undefined ? '' : ` (service label ${serviceLabel} is not a service name)`;
        next = {
          id,
          title,
          service,
          ...(serviceLabel === undefined ? {} : { service_label: serviceLabel }),
          severity: alert.severity as Incident['severity'],
          impact: impactOf(alert.severity as Incident['severity']),
          status: 'open',
          source: 'monitoring',
          opened_at: at,
          opened_by: 'monitoring',
          alerts: [alert],
          timeline: [
            { at, kind: 'opened', text: `Detected by monitoring: ${title}${filed}`, by: 'monitoring' },
            {
              at: alert.starts_at,
              kind: 'alert_firing',
              text: `${alert.alertname} firing${alert.summary ? `: ${alert.summary}` : ''}`,
            },
          ],
        };
      } else {
        next = mergeAlert(current, alert, at);
        if (next === current) {
          await this.redis.unwatch();
          return current;
        }
      }
      const tx = this.redis.multi().hset(this.keys.incidents, next.id, JSON.stringify(next));
      if (next.status === 'resolved') tx.hdel(this.keys.openByService, service);
      else tx.hset(this.keys.openByService, service, next.id);
      if ((await tx.exec()) !== null) return next;
    }
    throw new Error('incident update kept conflicting; try again');
  }

  /** Applies a change to one incident atomically. */
  private update(id: string, change: (incident: Incident, at: string) => Incident): Promise<Incident> {
    return this.serial(() => this.updateNow(id, change));
  }

  private async updateNow(id: string, change: (incident: Incident, at: string) => Incident): Promise<Incident> {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      await this.redis.watch(this.keys.incidents);
      const current = await this.get(id).catch(async (err) => {
        await this.redis.unwatch();
        throw err;
      });
      const next = change(current, this.now());
      const tx = this.redis.multi().hset(this.keys.incidents, id, JSON.stringify(next));
      if (next.status === 'resolved' && current.status !== 'resolved') tx.hdel(this.keys.openByService, current.service);
      if ((await tx.exec()) !== null) return next;
    }
    throw new Error('incident update kept conflicting; try again');
  }

  acknowledge(id: string, by: string): Promise<Incident> {
    return this.update(id, (incident, at) =>
      incident.acknowledged_at
        ? incident
        : {
            ...incident,
            status: incident.status === 'resolved' ? incident.status : 'acknowledged',
            acknowledged_at: at,
            acknowledged_by: by,
            timeline: [...incident.timeline, event(at, 'acknowledged', `Acknowledged by ${by}`, by)],
          },
    );
  }

  note(id: string, text: string, by: string): Promise<Incident> {
    return this.update(id, (incident, at) => ({ ...incident, timeline: [...incident.timeline, event(at, 'note', text, by)] }));
  }

  resolve(id: string, by: string, text?: string): Promise<Incident> {
    return this.update(id, (incident, at) =>
      incident.status === 'resolved'
        ? incident
        : {
            ...incident,
            status: 'resolved',
            resolved_at: at,
            resolved_by: by,
            timeline: [...incident.timeline, event(at, 'resolved', text ?? `Resolved by ${by}`, by)],
          },
    );
  }

  /** Adds an event to every open incident (a maintenance window starting, say); returns how many. */
  async markOpenIncidents(kind: TimelineKind, text: string, by: string): Promise<number> {
    const ids = Object.values(await this.redis.hgetall(this.keys.openByService));
    for (const id of ids)
      await this.update(id, (incident, at) => ({ ...incident, timeline: [...incident.timeline, event(at, kind, text, by)] }));
    return ids.length;
  }

  /** Deletes resolved incidents resolved before `before`; returns their ids. */
  async deleteResolvedBefore(before: Date, dryRun: boolean): Promise<string[]> {
    const old = (await this.list()).filter(
      (i) => i.status === 'resolved' && i.resolved_at !== undefined && Date.parse(i.resolved_at) < before.getTime(),
    );
    if (!dryRun && old.length > 0) await this.redis.hdel(this.keys.incidents, ...old.map((i) => i.id));
    return old.map((i) => i.id);
  }
}

function event(at: string, kind: TimelineKind, text: string, by?: string): TimelineEvent {
  return by === undefined ? { at, kind, text } : { at, kind, text, by };
}

/** The incident after one alert update; the same object when nothing changed (a retried webhook). */
export function mergeAlert(incident: Incident, alert: IncidentAlert, at: string): Incident {
  const previous = incident.alerts.find((a) => a.fingerprint === alert.fingerprint);
  if (previous?.status === alert.status) return incident;
  if (previous === undefined && alert.status === 'resolved') return incident;
  const alerts =
    previous === undefined
      ? [...incident.alerts, alert]
      : incident.alerts.map((a) => (a.fingerprint === alert.fingerprint ? alert : a));
  const timeline = [
    ...incident.timeline,
    alert.status === 'firing'
      ? event(alert.starts_at, 'alert_firing', `${alert.alertname} firing${alert.summary ? `: ${alert.summary}` : ''}`)
      : event(alert.ends_at ?? at, 'alert_resolved', `${alert.alertname} resolved`),
  ];
  const stillFiring = alerts.some((a) => a.status === 'firing');
  const severityRank = { critical: 3, warning: 2, info: 1 } as const;
  const severity =
    alert.status === 'firing' && (severityRank[alert.severity as Incident['severity']] ?? 0) > severityRank[incident.severity]
      ? (alert.severity as Incident['severity'])
      : incident.severity;
  const base: Incident = { ...incident, alerts, timeline, severity, impact: impactOf(severity) };
  if (!stillFiring && incident.status !== 'resolved') {
    return {
      ...base,
      status: 'resolved',
      resolved_at: alert.ends_at ?? at,
      resolved_by: 'monitoring',
      timeline: [...timeline, event(at, 'resolved', 'Every alert resolved: incident closed by monitoring', 'monitoring')],
    };
  }
  return base;
}
