import type { FastifyInstance } from 'fastify';
import { ConfigError } from '../config/index.ts';
import { hasMetricsApp, type MetricsListenerConfig, metricsAppOf } from './metrics-app.ts';

/** Where an app listens and how it stops: the fields of every listener's configuration. */
export interface ServeConfig {
  readonly host: string;
  readonly port: number;
  /** Longest in-flight requests may take to finish after SIGTERM before the process exits anyway. */
  readonly shutdownGraceMs: number;
  /** Started by the local runner (HADDOCK_SUPERVISED): leave when it dies. */
  readonly supervised: boolean;
}

/** What `serve` needs of an app that has a private metrics listener (`attachMetricsApp`): its address too. */
export type ServeWithMetricsConfig = ServeConfig & MetricsListenerConfig;

/**
 * Listens, then on SIGTERM/SIGINT stops accepting connections, lets in-flight
 * requests finish (bounded by `shutdownGraceMs`), closes Redis through the
 * app's onClose hooks and exits. The orchestrator restarts a crashed process.
 * An app with a private metrics listener (`attachMetricsApp`) has it listen
 * first, at `metricsHost:metricsPort` (a process that cannot be scraped fails
 * at start, not silently); it closes after the public listener has drained.
 */
export async function serve(app: FastifyInstance, config: ServeConfig | ServeWithMetricsConfig): Promise<void> {
  const { host, port, shutdownGraceMs: graceMs } = config;
  let closing = false;
  const shutdown = (signal: NodeJS.Signals) => {
    if (closing) return;
    closing = true;
    app.log.info({ signal }, 'shutting down');
    const force = setTimeout(() => {
      app.log.error({ graceMs }, 'graceful shutdown timed out, exiting');
      process.exit(1);
    }, graceMs);
    force.unref();
    app.close().then(
      () => {
        app.log.info('stopped');
        process.exit(0);
      },
      (err: unknown) => {
        app.log.error({ err }, 'error while closing');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);
  if (config.supervised) {
    // Under the local runner: if the runner dies without stopping us (kill -9),
    // we are re-parented; shut down rather than hold our port as an orphan.
    const parent = process.ppid;
    const watch = setInterval(() => {
      if (process.ppid !== parent) {
        clearInterval(watch);
        app.log.warn({ parent }, 'supervisor gone');
        shutdown('SIGTERM');
      }
    }, 1_000);
    watch.unref();
  }
  if (hasMetricsApp(app)) {
    if (!('metricsPort' in config)) throw new Error('serve: this app has a metrics listener but no metricsHost/metricsPort');
    const { metricsHost, metricsPort } = config;
    await metricsAppOf(app).listen({ host: metricsHost, port: metricsPort });
    app.log.info({ host: metricsHost, port: metricsPort }, 'metrics listening');
  }
  await app.listen({ host, port });
}

/** Entry-point wrapper: configuration errors print every problem and exit 2; anything else exits 1. */
export async function runEntry(service: string, main: () => Promise<void>): Promise<void> {
  try {
    await main();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${service}: ${err.message}\n`);
      process.exit(2);
    }
    process.stderr.write(`${service}: failed to start: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  }
}
