import { join, resolve } from 'node:path';
import { type Env, EnvReader, type HttpConfig, type LogConfig, readHttpConfig, readLogConfig } from '../../lib/config/index.ts';

export interface AlertSinkConfig extends LogConfig, HttpConfig {
  /** Loopback only: the sink is a local stand-in, never exposed. */
  readonly host: string;
  readonly port: number;
  /** Where each received alert is appended as one JSON line. */
  readonly file: string;
  /** How many alerts `GET /alerts` keeps in memory (the newest ones). */
  readonly memoryLimit: number;
  readonly bodyLimitBytes: number;
  readonly shutdownGraceMs: number;
}

export const DEFAULT_ALERT_SINK_PORT = 9095;

export function loadConfig(env: Env): AlertSinkConfig {
  const reader = new EnvReader(env);
  const log = readLogConfig(reader);
  const varDir = resolve(reader.string('HADDOCK_VAR_DIR', 'var'));
  const config: AlertSinkConfig = {
    host: '127.0.0.1',
    port: reader.int('ALERT_SINK_PORT', DEFAULT_ALERT_SINK_PORT, 1, 65535),
    file: resolve(reader.string('ALERT_SINK_FILE', join(varDir, 'log', 'alerts.jsonl'))),
    memoryLimit: 1_000,
    bodyLimitBytes: 1024 * 1024,
    ...log,
    ...readHttpConfig(reader),
    shutdownGraceMs: reader.int('SHUTDOWN_GRACE_MS', 10_000, 0, 120_000),
  };
  reader.done();
  return Object.freeze(config);
}
