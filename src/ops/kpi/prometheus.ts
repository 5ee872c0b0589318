import { appError } from '../../lib/errors/index.ts';
import type { PrometheusClient } from '../prometheus/index.ts';
import { judge, type KpiRow, TARGETS, type Threshold } from './index.ts';

interface PromKpi {
  readonly key: string;
  readonly name: string;
  readonly target: string;
  readonly unit: string;
  readonly threshold?: Threshold;
  /** PromQL over the window `w` (e.g. `24h`), reading the recording rules' platform-wide series. */
  readonly expr: (w: string) => string;
  readonly digits: number;
}

/**
 * The spec's table 6.6.1, read from the recording rules of
 * monitoring/prometheus/rules/recording.yml over the window. Ratios are sums of
 * the recorded rates (a busy minute weighs more than a quiet one, and a minute
 * without traffic adds nothing instead of a NaN that would spoil the average);
 * levels (p99, CPU, memory) are averaged, NaN samples left out.
 */
export const PROMETHEUS_KPIS: readonly PromKpi[] = [
  {
    key: 'availability',
    name: 'Service availability',
    target: '≥ 99.9%',
    unit: '%',
    threshold: TARGETS.availability,
    expr: (w) =>
      `100 * (1 - (sum(sum_over_time(haddock:http_requests_5xx:rate5m[${w}])) or vector(0)) / sum(sum_over_time(haddock:http_requests:rate5m[${w}])))`,
    digits: 3,
  },
  {
    key: 'mean_response',
    name: 'Mean response time',
    target: '< 200 ms',
    unit: 'ms',
    threshold: TARGETS.mean_response_ms,
    expr: (w) =>
      `1000 * sum(sum_over_time(service:http_request_latency_seconds_sum:rate5m{service!="gateway"}[${w}])) / sum(sum_over_time(service:http_request_latency_seconds_count:rate5m{service!="gateway"}[${w}]))`,
    digits: 1,
  },
  {
    key: 'p99_response',
    name: 'p99 response time',
    target: '< 1000 ms',
    unit: 'ms',
    threshold: TARGETS.p99_response_ms,
    expr: (w) => `1000 * avg_over_time((haddock:http_request_latency_seconds:p99_rate5m >= 0)[${w}:])`,
    digits: 1,
  },
  {
    key: 'error_rate',
    name: 'Error rate (5xx)',
    target: '< 1%',
    unit: '%',
    threshold: TARGETS.error_rate_percent,
    expr: (w) =>
      `100 * (sum(sum_over_time(haddock:http_requests_5xx:rate5m[${w}])) or vector(0)) / sum(sum_over_time(haddock:http_requests:rate5m[${w}]))`,
    digits: 3,
  },
  {
    key: 'requests_per_second',
    name: 'Requests per second',
    target: '-',
    unit: 'req/s',
    expr: (w) => `avg_over_time(haddock:http_requests:rate5m[${w}])`,
    digits: 3,
  },
  {
    key: 'cpu',
    name: 'Mean CPU usage',
    target: '< 70%',
    unit: '%',
    threshold: TARGETS.cpu_percent,
    expr: (w) => `100 * avg_over_time((haddock:process_cpu_usage:ratio_rate5m >= 0)[${w}:])`,
    digits: 1,
  },
  {
    key: 'memory',
    name: 'Mean memory usage',
    target: '< 80%',
    unit: '%',
    threshold: TARGETS.memory_percent,
    expr: (w) => `100 * avg_over_time((haddock:process_resident_memory:ratio >= 0)[${w}:])`,
    digits: 1,
  },
];

/** An error as an operator reads it: `fetch failed (ECONNREFUSED)` rather than a bare `fetch failed`. */
function reason(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = err.cause as { code?: unknown; message?: unknown } | undefined;
  const detail = typeof cause?.code === 'string' ? cause.code : typeof cause?.message === 'string' ? cause.message : undefined;
  return detail === undefined || err.message.includes(detail) ? err.message : `${err.message} (${detail})`;
}

/**
 * Reads every Prometheus KPI. Without a client each row is `unknown` and says
 * Prometheus is not configured; when Prometheus does not answer (asked once,
 * before the KPI queries) each row is `unknown`, says it is unreachable and
 * carries the error in `note`; a query it refuses makes that row alone unknown.
 */
export async function prometheusKpis(client: PrometheusClient | undefined, window: string, at?: Date): Promise<KpiRow[]> {
  const base = (kpi: PromKpi) => ({
    key: kpi.key,
    name: kpi.name,
    target: kpi.target,
    unit: kpi.unit,
    source: 'prometheus' as const,
  });
  if (client === undefined) {
    return PROMETHEUS_KPIS.map((kpi) => ({
      ...base(kpi),
      value: null,
      display: 'Prometheus not configured',
      status: 'unknown',
      note: 'PROMETHEUS_URL is not set',
    }));
  }
  let down: string | undefined;
  try {
    await client.query('vector(1)', at);
  } catch (err) {
    down = reason(err);
  }
  if (down !== undefined) {
    const note = down;
    return PROMETHEUS_KPIS.map((kpi) => ({
      ...base(kpi),
      value: null,
      display: 'Prometheus unreachable',
      status: 'unknown',
      note,
    }));
  }
  return Promise.all(
    PROMETHEUS_KPIS.map(async (kpi): Promise<KpiRow> => {
      try {
        const raw = await client.scalar(kpi.expr(window), at);
        const value = raw === null ? null : Math.round(raw * 10 ** kpi.digits) / 10 ** kpi.digits;
        return {
          ...base(kpi),
          value,
          display: value === null ? 'no data' : `${value} ${kpi.unit}`,
          status: kpi.threshold === undefined ? (value === null ? 'unknown' : 'green') : judge(value, kpi.threshold),
        };
      } catch (err) {
        return { ...base(kpi), value: null, display: 'Prometheus query failed', status: 'unknown', note: reason(err) };
      }
    }),
  );
}

/** A window: 1 to 9999 minutes, hours or days, digits only (no sign, exponent, fraction or blank). */
export const WINDOW_PATTERN = '^\\d{1,4}[mhd]$';

/**
 * `24h`, `90m`, `7d` → Prometheus duration (validated), and its length in milliseconds. Anything else, zero
 * included, is WINDOW_INVALID (a 400, exit 2): at most 9999 days keeps the window's start a real date.
 */
export function parseWindow(text: string): { promql: string; ms: number } {
  const match = new RegExp(WINDOW_PATTERN).test(text) ? /^(\d+)([mhd])$/.exec(text) : null;
  if (match === null) {
    throw appError('WINDOW_INVALID', {
      detail: `window must look like 30m, 24h or 7d (1 to 9999 minutes, hours or days), got "${text}"`,
    });
  }
  const n = Number(match[1]);
  const unit = match[2] as 'm' | 'h' | 'd';
  if (n <= 0) throw appError('WINDOW_INVALID', { detail: `window must be positive, got "${text}"` });
  return { promql: `${n}${unit}`, ms: n * { m: 60_000, h: 3_600_000, d: 86_400_000 }[unit] };
}
