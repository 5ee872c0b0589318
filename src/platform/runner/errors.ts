/** A start-up failure the runner explains in one message; the entry prints it and exits 1. */
export class PlatformError extends Error {
  override name = 'PlatformError';
}

/** Printed, word for word, when the private Redis cannot be started. */
export const REDIS_MISSING_MESSAGE =
  'redis-server was not found. Install it with: apt-get update && apt-get install -y redis-server';
