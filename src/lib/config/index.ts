/**
 * Environment parsing shared by every entry point. A `loadConfig(env)` built
 * on these readers reports every bad variable at once, then freezes.
 */
export type Env = Readonly<Record<string, string | undefined>>;

/** Thrown at start-up with every configuration problem found. */
export class ConfigError extends Error {
  readonly problems: readonly string[];

  constructor(problems: readonly string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

/** Collects problems while reading variables, so all are reported together. */
export class EnvReader {
  private readonly problems: string[] = [];

  constructor(private readonly env: Env) {}

  raw(name: string): string | undefined {
    const value = this.env[name];
    return value === undefined || value.trim() === '' ? undefined : value.trim();
  }

  string(name: string, fallback: string): string {
    return this.raw(name) ?? fallback;
  }

  /** An integer within [min, max]; the fallback when unset. */
  int(name: string, fallback: number, min: number, max: number): number {
    const raw = this.raw(name);
    if (raw === undefined) return fallback;
    if (!/^-?\d+$/.test(raw)) {
      this.problems.push(`${name} must be an integer, got "${raw}"`);
      return fallback;
    }
    const value = Number(raw);
    if (value < min || value > max) {
      this.problems.push(`${name} must be between ${min} and ${max}, got ${value}`);
      return fallback;
    }
    return value;
  }

  /** A decimal number within [min, max] (`0.5`, `2`); the fallback when unset. */
  number(name: string, fallback: number, min: number, max: number): number {
    const raw = this.raw(name);
    if (raw === undefined) return fallback;
    if (!/^-?(\d+(\.\d*)?|\.\d+)$/.test(raw)) {
      this.problems.push(`${name} must be a number, got "${raw}"`);
      return fallback;
    }
    const value = Number(raw);
    if (value < min || value > max) {
      this.problems.push(`${name} must be between ${min} and ${max}, got ${value}`);
      return fallback;
    }
    return value;
  }

  port(name: string, fallback: number): number {
    return this.int(name, fallback, 0, 65535);
  }

  bool(name: string, fallback: boolean): boolean {
    const raw = this.raw(name)?.toLowerCase();
    if (raw === undefined) return fallback;
    if (['1', 'true', 'yes', 'on'].includes(raw)) return true;
    if (['0', 'false', 'no', 'off'].includes(raw)) return false;
    this.problems.push(`${name} must be true or false, got "${raw}"`);
    return fallback;
  }

  oneOf<T extends string>(name: string, fallback: T, allowed: readonly T[]): T {
    const raw = this.raw(name);
    if (raw === undefined) return fallback;
    if ((allowed as readonly string[]).includes(raw)) return raw as T;
    this.problems.push(`${name} must be one of ${allowed.join(', ')}, got "${raw}"`);
    return fallback;
  }

  /** An http(s) or redis(s) URL. */
  url(name: string, fallback: string, protocols: readonly string[]): string {
    const raw = this.raw(name) ?? fallback;
    try {
      const parsed = new URL(raw);
      if (!protocols.includes(parsed.protocol)) {
        this.problems.push(`${name} must use ${protocols.join(' or ')}, got "${parsed.protocol}"`);
      }
    } catch {
      this.problems.push(`${name} is not a valid URL`);
    }
    return raw;
  }

  problem(message: string): void {
    this.problems.push(message);
  }

  /** Throws a ConfigError listing every problem, if any. */
  done(): void {
    if (this.problems.length > 0) throw new ConfigError(this.problems);
  }
}

export const LOG_LEVELS = ['DEBUG', 'INFO', 'WARNING', 'ERROR', 'CRITICAL'] as const;
export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';

const LEVEL_MAP: Record<string, LogLevel> = {
  debug: 'debug',
  info: 'info',
  warning: 'warn',
  warn: 'warn',
  error: 'error',
  critical: 'fatal',
  fatal: 'fatal',
  silent: 'silent',
};

/** Where a process writes its JSON log lines besides stdout, and how the file rotates. */
export interface LogFileConfig {
  readonly path: string;
  /** A file that would grow past this is renamed `<path>.1` and a new one started. */
  readonly maxBytes: number;
  /** Rotated files kept (`<path>.1` … `<path>.<keep>`); older ones are deleted. */
  readonly keep: number;
}

/** Logging settings every process (services, gateway) reads. */
export interface LogConfig {
  readonly logLevel: LogLevel;
  /** Unset: stdout only. */
  readonly logFile: LogFileConfig | undefined;
  /**
   * Write to stdout too (the default: what Kubernetes and Loki read). The local
   * runner turns it off when a LOG_FILE is set, so lines are not kept twice.
   */
  readonly logStdout: boolean;
}

/** Resource limits the metrics report when the cgroup does not say; undefined when unset. */
export interface ResourceConfig {
  readonly memoryLimitBytes: number | undefined;
  readonly cpuLimitCores: number | undefined;
}

/** Reads LOG_LEVEL (the spec's five names, or pino's) and LOG_FILE, LOG_FILE_MAX_BYTES, LOG_FILE_KEEP. */
export function readLogConfig(reader: EnvReader): LogConfig {
  const levelRaw = reader.string('LOG_LEVEL', 'INFO');
  const logLevel = LEVEL_MAP[levelRaw.toLowerCase()];
  if (logLevel === undefined) {
    reader.problem(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}, got "${levelRaw}"`);
  }
  const path = reader.raw('LOG_FILE');
  const maxBytes = reader.int('LOG_FILE_MAX_BYTES', 5_242_880, 1_024, 1_073_741_824);
  const keep = reader.int('LOG_FILE_KEEP', 5, 0, 100);
  const logStdout = reader.bool('LOG_STDOUT', true);
  if (!logStdout && path === undefined) reader.problem('LOG_STDOUT=false needs a LOG_FILE: the lines would go nowhere');
  return {
    logLevel: logLevel ?? 'info',
    logFile: path === undefined ? undefined : Object.freeze({ path, maxBytes, keep }),
    logStdout,
  };
}

/** Reads MEMORY_LIMIT_BYTES and CPU_LIMIT_CORES, for when the process runs outside a limiting cgroup. */
export function readResourceConfig(reader: EnvReader): ResourceConfig {
  const memory = reader.raw('MEMORY_LIMIT_BYTES');
  const cpu = reader.raw('CPU_LIMIT_CORES');
  return {
    memoryLimitBytes: memory === undefined ? undefined : reader.int('MEMORY_LIMIT_BYTES', 0, 1_048_576, Number.MAX_SAFE_INTEGER),
    cpuLimitCores: cpu === undefined ? undefined : reader.number('CPU_LIMIT_CORES', 0, 0.01, 1_024),
  };
}

/** What every service reads: Redis, HTTP, security, logging. */
export interface ServiceConfig extends LogConfig, ResourceConfig {
  readonly serviceName: string;
  readonly nodeEnv: string;
  readonly host: string;
  readonly port: number;
  readonly redisUrl: string;
  readonly redisKeyPrefix: string;
  readonly redisCommandTimeoutMs: number;
  readonly adminKeys: readonly string[];
  /** True when ADMIN_KEY was unset and the local default is in force. */
  readonly adminKeyIsDefault: boolean;
  readonly tokenTtlSeconds: number;
  readonly bodyLimitBytes: number;
  readonly shutdownGraceMs: number;
}

/** The original platform's admin key; accepted only outside production. */
export const DEFAULT_ADMIN_KEY = 'default_key';

/**
 * Parses ADMIN_KEY as the original did: a JSON list of keys, or one key.
 * Keys shorter than 8 characters are refused outside the local default.
 */
export function parseAdminKeys(reader: EnvReader, nodeEnv: string): { keys: string[]; isDefault: boolean } {
  const raw = reader.raw('ADMIN_KEY');
  if (raw === undefined) {
    if (nodeEnv === 'production') {
      reader.problem('ADMIN_KEY must be set when NODE_ENV=production (the default key is for the local platform only)');
    }
    return { keys: [DEFAULT_ADMIN_KEY], isDefault: true };
  }
  let keys: unknown = raw;
  if (raw.startsWith('[')) {
    try {
      keys = JSON.parse(raw);
    } catch {
      reader.problem('ADMIN_KEY looks like a JSON list but does not parse');
      return { keys: [], isDefault: false };
    }
  }
  const list = Array.isArray(keys) ? keys : [keys];
  if (list.length === 0 || !list.every((k) => typeof k === 'string' && k.length > 0)) {
    reader.problem('ADMIN_KEY must be a non-empty string or a JSON list of non-empty strings');
    return { keys: [], isDefault: false };
  }
  if (nodeEnv === 'production' && list.some((k) => k === DEFAULT_ADMIN_KEY || (k as string).length < 16)) {
    reader.problem('ADMIN_KEY in production must not be the default key and must be at least 16 characters');
  }
  return { keys: list as string[], isDefault: false };
}

/** Reads the variables every service shares. Call `reader.done()` after adding the service's own. */
export function readServiceConfig(reader: EnvReader, serviceName: string, defaultPort: number): ServiceConfig {
  const nodeEnv = reader.string('NODE_ENV', 'development');
  const admin = parseAdminKeys(reader, nodeEnv);
  const log = readLogConfig(reader);
  const prefix = reader.string('REDIS_KEY_PREFIX', 'haddock:');
  if (!/^[A-Za-z0-9:_.-]{1,64}$/.test(prefix)) {
    reader.problem('REDIS_KEY_PREFIX may hold only letters, digits and : _ . - (at most 64)');
  }
  return {
    serviceName,
    nodeEnv,
    host: reader.string('HOST', '0.0.0.0'),
    port: reader.port('PORT', defaultPort),
    redisUrl: reader.url('REDIS_URL', 'redis://127.0.0.1:6379', ['redis:', 'rediss:']),
    redisKeyPrefix: prefix,
    redisCommandTimeoutMs: reader.int('REDIS_COMMAND_TIMEOUT_MS', 500, 50, 10_000),
    adminKeys: admin.keys,
    adminKeyIsDefault: admin.isDefault,
    tokenTtlSeconds: reader.int('TOKEN_TTL_SECONDS', 86_400, 60, 31_536_000),
    ...log,
    ...readResourceConfig(reader),
    bodyLimitBytes: reader.int('BODY_LIMIT_BYTES', 16_384, 1_024, 1_048_576),
    shutdownGraceMs: reader.int('SHUTDOWN_GRACE_MS', 10_000, 0, 120_000),
  };
}
