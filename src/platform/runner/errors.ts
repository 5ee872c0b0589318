/** A start-up failure the runner explains in one message; the entry prints it and exits 1. */
export class PlatformError extends Error {
  override name = 'PlatformError';
}

/** Printed, word for word, when the private Redis cannot be started. */
export const REDIS_MISSING_MESSAGE =
  'redis-server was not found. Install it with: apt-get update && apt-get install -y redis-server';

/** The one command that installs both monitoring binaries (Debian/Ubuntu package names). */
export const MONITORING_INSTALL_COMMAND = 'apt-get update && apt-get install -y prometheus prometheus-alertmanager';

/** Printed, word for word, once, when MONITORING=auto finds Prometheus or Alertmanager missing. */
export const MONITORING_MISSING_NOTICE = `Prometheus/Alertmanager not found: install them with ${MONITORING_INSTALL_COMMAND}`;

/** The start-up failure when MONITORING=on and a binary is missing; `missing` names them. */
export function monitoringRequiredMessage(missing: readonly string[]): string {
  return `MONITORING=on but ${missing.join(' and ')} ${missing.length > 1 ? 'are' : 'is'} not on PATH. Install them with: ${MONITORING_INSTALL_COMMAND} (or set MONITORING=off)`;
}
