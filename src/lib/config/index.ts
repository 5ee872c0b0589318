import { readFileSync } from 'node:fs';

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
  /**
   * Once a line takes the file to this size, it is rotated: gzip-compressed to
   * `<path>.<UTC time>-<n>.gz` (see `rotatedLogName` in src/lib/logging) and a new one started.
   */
  readonly maxBytes: number;
  /** Rotated files kept, the newest; older ones are deleted (`haddock clean` also deletes them after LOG_RETENTION_DAYS). */
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

/** What every HTTP listener (services, gateway, alert sink) reads: its timeouts, and how it was started. */
export interface HttpConfig {
  /** HTTP_REQUEST_TIMEOUT_MS: longest a client may take to send a whole request, headers and body (408 after). */
  readonly httpRequestTimeoutMs: number;
  /** HTTP_HEADERS_TIMEOUT_MS: longest a client may take to send the request headers (408 after): slow-header clients. */
  readonly httpHeadersTimeoutMs: number;
  /** HTTP_KEEP_ALIVE_TIMEOUT_MS: how long an idle keep-alive connection is kept open. */
  readonly httpKeepAliveTimeoutMs: number;
  /**
   * HTTP_CONNECTIONS_CHECK_INTERVAL_MS: how often the listener looks for connections past their headers or
   * request timeout; a slow client is cut off at most this long after its timeout.
   */
  readonly httpConnectionsCheckIntervalMs: number;
  /**
   * HTTP_INSTRUMENTATION: false drops the per-request metrics and log line. Bench-only, to show their cost;
   * never in production, where the dashboards and alerts read them.
   */
  readonly httpInstrumentation: boolean;
  /** HADDOCK_SUPERVISED (set by the local runner): the process leaves when its supervisor dies. */
  readonly supervised: boolean;
}

/**
 * Reads HTTP_REQUEST_TIMEOUT_MS (default 30 s), HTTP_HEADERS_TIMEOUT_MS (10 s, at most the request
 * timeout), HTTP_KEEP_ALIVE_TIMEOUT_MS (72 s), HTTP_CONNECTIONS_CHECK_INTERVAL_MS (1 s), HTTP_INSTRUMENTATION
 * (true) and HADDOCK_SUPERVISED (false).
 */
export function readHttpConfig(reader: EnvReader): HttpConfig {
  const config: HttpConfig = {
    httpRequestTimeoutMs: reader.int('HTTP_REQUEST_TIMEOUT_MS', 30_000, 1_000, 600_000),
    httpHeadersTimeoutMs: reader.int('HTTP_HEADERS_TIMEOUT_MS', 10_000, 1_000, 600_000),
    // Longer than the idle time of the load balancers and proxies in front (60 s is common), so that the
    // server never closes a connection the client is about to reuse.
    httpKeepAliveTimeoutMs: reader.int('HTTP_KEEP_ALIVE_TIMEOUT_MS', 72_000, 1_000, 600_000),
    // Node checks every 30 s by default, so a 10 s headers timeout could hold a slow client for 40 s.
    httpConnectionsCheckIntervalMs: reader.int('HTTP_CONNECTIONS_CHECK_INTERVAL_MS', 1_000, 100, 60_000),
    httpInstrumentation: reader.bool('HTTP_INSTRUMENTATION', true),
    supervised: reader.bool('HADDOCK_SUPERVISED', false),
  };
  if (config.httpHeadersTimeoutMs > config.httpRequestTimeoutMs) {
    reader.problem(
      `HTTP_HEADERS_TIMEOUT_MS (${config.httpHeadersTimeoutMs}) must not exceed HTTP_REQUEST_TIMEOUT_MS (${config.httpRequestTimeoutMs})`,
    );
  }
  return config;
}

/**
 * A value read from configuration that must never be shown: it prints, logs
 * and serialises as `[redacted]`, so a config dump, a log line or an error
 * that carries it cannot leak it. Only `reveal()` gives the value.
 */
export class Secret {
  readonly #value: string;

  constructor(value: string) {
    this.#value = value;
  }

  /** The value itself, for the one place that sends it (a client's AUTH). */
  reveal(): string {
    return this.#value;
  }

  toString(): string {
    return '[redacted]';
  }

  toJSON(): string {
    return '[redacted]';
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return 'Secret([redacted])';
  }
}

/** Reads the file a `<NAME>_FILE` variable names; replaced in tests. */
export type FileReader = (path: string) => string;

const readTextFile: FileReader = (path) => readFileSync(path, 'utf8');

/**
 * Reads a secret from `name`, or from the file `<name>_FILE` names (a mounted
 * Kubernetes Secret), trimmed. Both set, an unreadable file or an empty file
 * is a problem; the problem names the variable and the path, never the value.
 */
export function readSecret(reader: EnvReader, name: string, readFile: FileReader = readTextFile): Secret | undefined {
  const direct = reader.raw(name);
  const path = reader.raw(`${name}_FILE`);
  if (direct !== undefined && path !== undefined) {
    reader.problem(`${name} and ${name}_FILE are both set: keep one`);
    return undefined;
  }
  if (direct !== undefined) return new Secret(direct);
  if (path === undefined) return undefined;
  let text: string;
  try {
    text = readFile(path).trim();
  } catch (err) {
    reader.problem(`${name}_FILE: cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    return undefined;
  }
  if (text === '') {
    reader.problem(`${name}_FILE: ${path} is empty`);
    return undefined;
  }
  return new Secret(text);
}

/** A Redis server or Sentinel on the network. */
export interface RedisAddress {
  readonly host: string;
  readonly port: number;
}

interface RedisConfigBase {
  /** How long a service's command may take before it fails (and the request answers 503). */
  readonly commandTimeoutMs: number;
  /** REDIS_PASSWORD (or REDIS_PASSWORD_FILE), or the password REDIS_URL carried. */
  readonly password: Secret | undefined;
}

/** One Redis at a fixed address: REDIS_URL. */
export interface RedisUrlConfig extends RedisConfigBase {
  readonly mode: 'url';
  /** REDIS_URL without its password (moved to `password`), so the URL can be shown. */
  readonly url: string;
}

/** A Sentinel-managed Redis: the clients ask the Sentinels where the primary is. */
export interface RedisSentinelConfig extends RedisConfigBase {
  readonly mode: 'sentinel';
  /** REDIS_SENTINELS, in the order given. */
  readonly sentinels: readonly RedisAddress[];
  /** REDIS_MASTER_NAME: the name the Sentinels monitor the primary under. */
  readonly masterName: string;
  /** REDIS_SENTINEL_PASSWORD (or _FILE): the Sentinels' own password. */
  readonly sentinelPassword: Secret | undefined;
}

/** The one Redis configuration every client of `src/lib/redis` is made from. */
export type RedisConfig = RedisUrlConfig | RedisSentinelConfig;

export interface RedisDefaults {
  /** REDIS_URL when neither it nor REDIS_SENTINELS is set. */
  readonly url: string;
  /** Reads the `_FILE` variables' files (default: the file system). */
  readonly readFile?: FileReader;
}

export const DEFAULT_REDIS_MASTER_NAME = 'haddock';

/**
 * A URL-mode configuration from a bare URL, its password moved out of the URL
 * into a `Secret`. For callers handed a URL rather than an environment
 * (tests, tools); `readRedisConfig` builds the same from REDIS_URL.
 */
export function redisUrlConfig(url: string, options: { commandTimeoutMs?: number; password?: Secret } = {}): RedisUrlConfig {
  let shown = url;
  let password = options.password;
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') {
      password ??= new Secret(decodeURIComponent(parsed.password));
      parsed.password = '';
      shown = parsed.toString();
    }
  } catch {
    // An invalid URL is reported by the reader; the client will fail on it.
  }
  return Object.freeze({ mode: 'url', url: shown, password, commandTimeoutMs: options.commandTimeoutMs ?? 500 });
}

function parseSentinels(reader: EnvReader, raw: string): RedisAddress[] {
  const addresses: RedisAddress[] = [];
  const items = raw
    .split(',')
    .map((part) => part.trim())
    .filter((item) => item !== '');
  if (items.length === 0) reader.problem('REDIS_SENTINELS names no Sentinel');
  for (const item of items) {
    const match = /^\[([0-9A-Fa-f:.]+)\]:(\d{1,5})$/.exec(item) ?? /^([^\s:[\]]+):(\d{1,5})$/.exec(item);
    const port = Number(match?.[2]);
    if (match?.[1] === undefined || port < 1 || port > 65_535) {
      reader.problem(`REDIS_SENTINELS must be a comma-separated list of host:port, got "${item}"`);
      continue;
    }
    addresses.push({ host: match[1], port });
  }
  return addresses;
}

/**
 * Reads the Redis connection: REDIS_URL, or a Sentinel-managed Redis with
 * REDIS_SENTINELS, REDIS_MASTER_NAME and REDIS_SENTINEL_PASSWORD(_FILE);
 * REDIS_PASSWORD(_FILE) and REDIS_COMMAND_TIMEOUT_MS for both. Problems go to
 * `reader`, reported with the rest of the configuration by `done()`.
 */
export function readRedisConfig(reader: EnvReader, defaults: RedisDefaults): RedisConfig {
  const readFile = defaults.readFile ?? readTextFile;
  const commandTimeoutMs = reader.int('REDIS_COMMAND_TIMEOUT_MS', 500, 50, 10_000);
  const password = readSecret(reader, 'REDIS_PASSWORD', readFile);
  const sentinelsRaw = reader.raw('REDIS_SENTINELS');
  if (sentinelsRaw === undefined) {
    if (reader.raw('REDIS_SENTINEL_PASSWORD') !== undefined || reader.raw('REDIS_SENTINEL_PASSWORD_FILE') !== undefined) {
      reader.problem('REDIS_SENTINEL_PASSWORD is set but REDIS_SENTINELS is not');
    }
    const url = reader.url('REDIS_URL', defaults.url, ['redis:', 'rediss:']);
    const withoutPassword = redisUrlConfig(url, { commandTimeoutMs });
    if (password !== undefined && withoutPassword.password !== undefined) {
      reader.problem('REDIS_URL carries a password and REDIS_PASSWORD is set: keep one');
    }
    return password === undefined ? withoutPassword : Object.freeze({ ...withoutPassword, password });
  }
  if (reader.raw('REDIS_URL') !== undefined) reader.problem('REDIS_URL and REDIS_SENTINELS are both set: keep one');
  const masterName = reader.string('REDIS_MASTER_NAME', DEFAULT_REDIS_MASTER_NAME);
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(masterName)) {
    reader.problem('REDIS_MASTER_NAME may hold only letters, digits and . _ - (at most 64)');
  }
  return Object.freeze({
    mode: 'sentinel',
    sentinels: Object.freeze(parseSentinels(reader, sentinelsRaw)),
    masterName,
    password,
    sentinelPassword: readSecret(reader, 'REDIS_SENTINEL_PASSWORD', readFile),
    commandTimeoutMs,
  });
}

/** Reads REDIS_KEY_PREFIX, the namespace of every key the platform writes. */
export function readRedisKeyPrefix(reader: EnvReader): string {
  const prefix = reader.string('REDIS_KEY_PREFIX', 'haddock:');
  if (!/^[A-Za-z0-9:_.-]{1,64}$/.test(prefix)) {
    reader.problem('REDIS_KEY_PREFIX may hold only letters, digits and : _ . - (at most 64)');
  }
  return prefix;
}

/**
 * Reads BODY_LIMIT_BYTES (default 16 KiB, 1 KiB to 1 MiB), the largest request body: the services refuse a
 * larger one with 413, and so does the gateway, before relaying it.
 */
export function readBodyLimitBytes(reader: EnvReader): number {
  return reader.int('BODY_LIMIT_BYTES', 16_384, 1_024, 1_048_576);
}

/** What every service reads: Redis, HTTP, security, logging. */
export interface ServiceConfig extends LogConfig, ResourceConfig, HttpConfig {
  readonly serviceName: string;
  readonly nodeEnv: string;
  readonly host: string;
  readonly port: number;
  /** METRICS_HOST (default HOST): where the private metrics listener listens. */
  readonly metricsHost: string;
  /** METRICS_PORT: the private metrics listener's port, never the public one; what Prometheus scrapes. */
  readonly metricsPort: number;
  readonly redis: RedisConfig;
  readonly redisKeyPrefix: string;
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
 * Parses ADMIN_KEY (or the file ADMIN_KEY_FILE names, a mounted Secret) as the original did: a JSON list of keys,
 * or one key. In production the default key and keys under 16 characters are refused.
 */
export function parseAdminKeys(
  reader: EnvReader,
  nodeEnv: string,
  readFile?: FileReader,
): { keys: string[]; isDefault: boolean } {
  const raw = readSecret(reader, 'ADMIN_KEY', readFile)?.reveal();
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

/**
 * Reads the variables every service shares. Call `reader.done()` after adding the service's own.
 * METRICS_PORT defaults to `defaultMetricsPort` (the public default plus 10, as the gateway's 8000 and 8010).
 */
export function readServiceConfig(
  reader: EnvReader,
  serviceName: string,
  defaultPort: number,
  defaultMetricsPort: number,
): ServiceConfig {
  const nodeEnv = reader.string('NODE_ENV', 'development');
  const host = reader.string('HOST', '0.0.0.0');
  const port = reader.port('PORT', defaultPort);
  const metricsPort = reader.port('METRICS_PORT', defaultMetricsPort);
  if (metricsPort !== 0 && metricsPort === port) {
    reader.problem(`METRICS_PORT must differ from PORT (both ${port}): /metrics must never be public`);
  }
  const admin = parseAdminKeys(reader, nodeEnv);
  const log = readLogConfig(reader);
  const prefix = readRedisKeyPrefix(reader);
  return {
    serviceName,
    nodeEnv,
    host,
    port,
    metricsHost: reader.string('METRICS_HOST', host),
    metricsPort,
    redis: readRedisConfig(reader, { url: 'redis://127.0.0.1:6379' }),
    redisKeyPrefix: prefix,
    adminKeys: admin.keys,
    adminKeyIsDefault: admin.isDefault,
    tokenTtlSeconds: reader.int('TOKEN_TTL_SECONDS', 86_400, 60, 31_536_000),
    ...log,
    ...readResourceConfig(reader),
    ...readHttpConfig(reader),
    bodyLimitBytes: readBodyLimitBytes(reader),
    shutdownGraceMs: reader.int('SHUTDOWN_GRACE_MS', 10_000, 0, 120_000),
  };
}
