/** A small client for Prometheus's HTTP query API. */
export class PrometheusClient {
  constructor(
    private readonly baseUrl: string,
    private readonly timeoutMs = 5_000,
  ) {}

  /** Instant query; every sample with its labels. Throws when Prometheus is unreachable or rejects the query. */
  async query(expr: string, at?: Date): Promise<{ labels: Record<string, string>; value: number }[]> {
    const url = new URL('/api/v1/query', this.baseUrl);
    url.searchParams.set('query', expr);
    if (at) url.searchParams.set('time', String(at.getTime() / 1000));
    const res = await fetch(url, { signal: AbortSignal.timeout(this.timeoutMs) });
    const body = (await res.json()) as {
      status: string;
      error?: string;
      data?: { resultType: string; result: { metric: Record<string, string>; value: [number, string] }[] | [number, string] };
    };
    if (body.status !== 'success' || body.data === undefined)
      throw new Error(`Prometheus rejected ${expr}: ${body.error ?? res.status}`);
    if (body.data.resultType === 'scalar') {
      const [, v] = body.data.result as [number, string];
      return [{ labels: {}, value: Number(v) }];
    }
    return (body.data.result as { metric: Record<string, string>; value: [number, string] }[]).map((r) => ({
      labels: r.metric,
      value: Number(r.value[1]),
    }));
  }

  /** The single value of an expression, or null when it returns nothing (or NaN). */
  async scalar(expr: string, at?: Date): Promise<number | null> {
    const [first] = await this.query(expr, at);
    return first === undefined || !Number.isFinite(first.value) ? null : first.value;
  }

  async ready(): Promise<boolean> {
    try {
      const res = await fetch(new URL('/-/ready', this.baseUrl), { signal: AbortSignal.timeout(this.timeoutMs) });
      return res.ok;
    } catch {
      return false;
    }
  }
}
