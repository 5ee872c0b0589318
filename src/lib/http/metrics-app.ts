import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import type { HttpConfig, LogConfig } from '../config/index.ts';
import type { Registry } from '../metrics/index.ts';
import { createHttpApp } from './app.ts';

/**
 * Where a process's private metrics listener listens: METRICS_HOST and METRICS_PORT for a service,
 * GATEWAY_METRICS_HOST and GATEWAY_METRICS_PORT for the gateway. Never the public port.
 */
export interface MetricsListenerConfig {
  readonly metricsHost: string;
  readonly metricsPort: number;
}

export interface MetricsAppOptions {
  /** The process's name, in every log line (`service`). */
  readonly service: string;
  /** The owning app's logging and HTTP settings: the metrics listener has the same timeouts and log level. */
  readonly config: LogConfig & HttpConfig;
  /** The registry served at `GET /metrics`: the owning app's. */
  readonly registry: Registry;
  /** false when the owning app logs nothing (tests); otherwise the metrics listener writes through its logger. */
  readonly logger: false | FastifyBaseLogger;
}

const DECORATOR = 'metricsApp';

/**
 * Gives `app` its private metrics listener: a second app built by `createHttpApp` like every listener, serving
 * only `GET /metrics` from `options.registry` (scrapes are not counted in it) and JSON 404s for anything else.
 * The public app must be built without the route (`metrics: { registry, route: false }`): a path that a proxy's
 * deny-list and the router read differently (`/metrics#x`, `/%6detrics`) then has nothing to reach. The metrics
 * app is closed after `app` (once its in-flight requests are done, so a draining process can still be scraped);
 * `serve` listens on it; `metricsAppOf(app)` returns it.
 */
export async function attachMetricsApp(app: FastifyInstance, options: MetricsAppOptions): Promise<FastifyInstance> {
  const metricsApp = await createHttpApp({
    service: options.service,
    config: options.config,
    // One process, one log file: the metrics listener writes through the owning app's logger.
    logger: options.logger,
    metrics: { registry: options.registry, http: false },
    docs: false,
  });
  app.decorate(DECORATOR, metricsApp);
  app.addHook('onClose', async () => {
    await metricsApp.close();
  });
  return metricsApp;
}

/** Whether `app` was given a metrics listener by {@link attachMetricsApp}. */
export function hasMetricsApp(app: FastifyInstance): boolean {
  return app.hasDecorator(DECORATOR);
}

/**
 * The metrics listener {@link attachMetricsApp} gave `app` (tests inject into it; `serve` listens on it).
 * @throws Error when `app` has none: a programmer error.
 */
export function metricsAppOf(app: FastifyInstance): FastifyInstance {
  if (!hasMetricsApp(app)) throw new Error('this app has no metrics listener (attachMetricsApp was not called)');
  return (app as unknown as Record<typeof DECORATOR, FastifyInstance>)[DECORATOR];
}
