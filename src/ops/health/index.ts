import { appError } from '../../lib/errors/index.ts';

export interface ServiceHealth {
  /** `users`, `quotes`, `search`, or `gateway` for the gateway's own line. */
  readonly service: string;
  readonly url: string;
  readonly status: number | null;
  readonly healthy: boolean;
  readonly latency_ms: number;
  readonly body: unknown;
}

/** The services whose readiness `haddock health` and `haddock check` ask, as the spec's 6.1.3 loop does. */
export const HEALTH_SERVICES = ['users', 'quotes', 'search'] as const;
export type HealthService = (typeof HEALTH_SERVICES)[number];

/**
 * The gateway's own liveness route (src/platform/gateway/routing.ts, GATEWAY_HEALTH_PATH): the gateway
 * answers it itself, outside the rate limit.
 */
export const GATEWAY_HEALTH_PATH = '/gateway/health';

export interface HealthOptions {
  /**
   * Each service's own base URL (its port, not the gateway's): readiness is asked there, so the
   * gateway's rate limit, or the gateway being down, never makes a healthy service look sick.
   */
  readonly services: Readonly<Record<HealthService, string>>;
  /**
   * The gateway's liveness URL (`gatewayHealthUrl(<gateway>)`, or Traefik's ping where Traefik is the gateway): one
   * line of its own (does the gateway answer?). Omitted: no gateway line.
   */
  readonly gatewayHealthUrl?: string;
  readonly timeoutMs: number;
}

function baseUrl(url: string): URL {
  try {
    return new URL(url);
  } catch {
    throw appError('URL_INVALID', { detail: `not a URL: ${url}` });
  }
}

/** Asks one health route; a route that does not answer, or answers anything but 200 `healthy`, is unhealthy. */
export async function probeHealth(service: string, url: string, timeoutMs: number): Promise<ServiceHealth> {
  const started = performance.now();
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    const body = await res.json().catch(() => null);
    const healthy = res.status === 200 && (body as { message?: string } | null)?.message === 'healthy';
    return { service, url, status: res.status, healthy, latency_ms: elapsed(started), body };
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    return { service, url, status: null, healthy: false, latency_ms: elapsed(started), body: { error: reason } };
  }
}

/**
 * Asks every service's readiness route on the service itself (`<url>/<service>/health`) and, when given
 * the gateway, whether it answers (`<gateway>/gateway/health`), and returns what each said, services first.
 * One that does not answer is unhealthy, not an error; only a URL that is not one throws (URL_INVALID).
 */
export async function checkHealth(options: HealthOptions): Promise<ServiceHealth[]> {
  const targets: [string, string][] = HEALTH_SERVICES.map((service) => [
    service,
    new URL(`/${service}/health`, baseUrl(options.services[service])).toString(),
  ]);
  if (options.gatewayHealthUrl !== undefined) targets.push(['gateway', options.gatewayHealthUrl]);
  return Promise.all(targets.map(([service, url]) => probeHealth(service, url, options.timeoutMs)));
}

/** The gateway's liveness URL under its base URL (URL_INVALID when it is not one). */
export function gatewayHealthUrl(gatewayUrl: string): string {
  return new URL(GATEWAY_HEALTH_PATH, baseUrl(gatewayUrl)).toString();
}

function elapsed(started: number): number {
  return Math.round((performance.now() - started) * 10) / 10;
}
