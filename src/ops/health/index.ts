import { appError } from '../../lib/errors/index.ts';

export interface ServiceHealth {
  readonly service: string;
  readonly url: string;
  readonly status: number | null;
  readonly healthy: boolean;
  readonly latency_ms: number;
  readonly body: unknown;
}

export interface HealthOptions {
  /** Base URL of the gateway (or of one service). */
  readonly url: string;
  readonly timeoutMs: number;
}

const SERVICES = ['users', 'quotes', 'search'] as const;

/**
 * Asks every service's readiness route, as the spec's 6.1.3 loop does, and returns what each said. A service that
 * does not answer is unhealthy, not an error; only a URL that is not one throws (URL_INVALID).
 */
export async function checkHealth(options: HealthOptions): Promise<ServiceHealth[]> {
  let base: URL;
  try {
    base = new URL(options.url);
  } catch {
    throw appError('URL_INVALID', { detail: `not a URL: ${options.url}` });
  }
  return Promise.all(
    SERVICES.map(async (service) => {
      const url = new URL(`/${service}/health`, base).toString();
      const started = performance.now();
      try {
        const res = await fetch(url, { signal: AbortSignal.timeout(options.timeoutMs) });
        const body = await res.json().catch(() => null);
        const healthy = res.status === 200 && (body as { message?: string } | null)?.message === 'healthy';
        return { service, url, status: res.status, healthy, latency_ms: elapsed(started), body };
      } catch (err) {
        const reason = err instanceof Error ? err.message : String(err);
        return { service, url, status: null, healthy: false, latency_ms: elapsed(started), body: { error: reason } };
      }
    }),
  );
}

function elapsed(started: number): number {
  return Math.round((performance.now() - started) * 10) / 10;
}
