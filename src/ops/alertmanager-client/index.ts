import { appError } from '../../lib/errors/index.ts';

/**
 * A small client for Alertmanager's v2 API: silences and alerts. An Alertmanager that cannot be reached, or answers
 * with an error, throws UPSTREAM_UNAVAILABLE whose detail names it and its URL.
 */
export class AlertmanagerClient {
  constructor(
    private readonly baseUrl: string,
    private readonly timeoutMs = 5_000,
  ) {}

  private async call(method: string, path: string, body?: unknown): Promise<unknown> {
    let res: Response;
    try {
      res = await fetch(new URL(path, this.baseUrl), {
        method,
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      throw appError('UPSTREAM_UNAVAILABLE', { detail: `Alertmanager is not reachable at ${this.baseUrl}`, cause: err });
    }
    const text = await res.text();
    if (!res.ok) {
      const detail = `Alertmanager ${method} ${path} answered ${res.status}: ${text.slice(0, 200)}`;
      throw appError('UPSTREAM_UNAVAILABLE', { detail });
    }
    return text ? JSON.parse(text) : null;
  }

  /** Creates a silence matching every alert of this Alertmanager; returns its id. */
  async silenceAll(startsAt: Date, endsAt: Date, createdBy: string, comment: string): Promise<string> {
    const result = (await this.call('POST', '/api/v2/silences', {
      matchers: [{ name: 'alertname', value: '.+', isRegex: true, isEqual: true }],
      startsAt: startsAt.toISOString(),
      endsAt: endsAt.toISOString(),
      createdBy,
      comment,
    })) as { silenceID: string };
    return result.silenceID;
  }

  async expireSilence(id: string): Promise<void> {
    await this.call('DELETE', `/api/v2/silence/${encodeURIComponent(id)}`);
  }

  /** Posts alerts as Prometheus would. */
  async postAlerts(
    alerts: { labels: Record<string, string>; annotations: Record<string, string>; startsAt: string; endsAt: string }[],
  ): Promise<void> {
    await this.call('POST', '/api/v2/alerts', alerts);
  }

  /** The receivers configured in the running Alertmanager. */
  async receivers(): Promise<string[]> {
    return ((await this.call('GET', '/api/v2/receivers')) as { name: string }[]).map((r) => r.name);
  }
}
