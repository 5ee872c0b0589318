import type { LoggerOptions } from 'pino';

/**
 * Paths pino removes from every log line: credentials never reach a log,
 * whatever a handler passes to the logger.
 */
export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  'authorization',
  'password',
  'token',
  '*.password',
  '*.token',
  '*.authorization',
  'body.password',
  'adminKeys',
  '*.adminKeys',
];

/** pino options shared by every process: JSON lines with ISO time, the service name and redaction. */
export function loggerOptions(service: string, level: string): LoggerOptions {
  return {
    level,
    base: { service },
    timestamp: () => `,"time":"${new Date().toISOString()}"`,
    messageKey: 'msg',
    formatters: {
      level: (label) => ({ level: label }),
    },
    redact: { paths: REDACTED_PATHS, censor: '[REDACTED]' },
  };
}
