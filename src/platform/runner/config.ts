import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Env, EnvReader } from '../../lib/config/index.ts';

export interface PlatformPorts {
  readonly gateway: number;
  readonly users: number;
  readonly quotes: number;
  readonly search: number;
  /** The private redis-server's port (unused when REDIS_URL is set). */
  readonly redis: number;
}

export interface RunnerConfig {
  /** The repository root: where `src/`, `data/` and `node_modules/` are. */
  readonly home: string;
  /** Runtime state: `redis/` (data, AOF), `log/` (one file per child), `run/` (pid files). */
  readonly varDir: string;
  /** The interface the services and the gateway listen on. */
  readonly host: string;
  readonly ports: PlatformPorts;
  /** An external Redis; when undefined the runner starts a private redis-server. */
  readonly redisUrl: string | undefined;
  readonly quotesSeedFile: string;
  readonly usersSeedFile: string;
  /** How long each child has to answer its readiness probe at start-up. */
  readonly readyTimeoutMs: number;
  /** How long a service or the gateway has to exit after SIGTERM before SIGKILL. */
  readonly stopTimeoutMs: number;
  /** The runner's environment, passed through to every child (PATH is read from it too). */
  readonly env: Env;
}

/** The repository root, three levels above this file (src/platform/runner). */
export const DEFAULT_HOME = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

export function loadConfig(env: Env): RunnerConfig {
  const reader = new EnvReader(env);
  const home = resolve(reader.string('HADDOCK_HOME', DEFAULT_HOME));
  const varDir = resolve(reader.string('HADDOCK_VAR_DIR', join(home, 'var')));
  const redisUrl = reader.raw('REDIS_URL') === undefined ? undefined : reader.url('REDIS_URL', '', ['redis:', 'rediss:']);
  // Port 0 is refused: the runner must know each port to probe it and hand it to the gateway.
  const ports: PlatformPorts = Object.freeze({
    gateway: reader.int('GATEWAY_PORT', 8000, 1, 65535),
    users: reader.int('USERS_PORT', 8001, 1, 65535),
    quotes: reader.int('QUOTES_PORT', 8002, 1, 65535),
    search: reader.int('SEARCH_PORT', 8003, 1, 65535),
    redis: reader.int('REDIS_PORT', 6390, 1, 65535),
  });
  const used = Object.entries(ports).filter(([name]) => name !== 'redis' || redisUrl === undefined);
  const seen = new Map<number, string>();
  for (const [name, port] of used) {
    const other = seen.get(port);
    if (other !== undefined) reader.problem(`${name.toUpperCase()}_PORT and ${other.toUpperCase()}_PORT are both ${port}`);
    seen.set(port, name);
  }
  const config: RunnerConfig = {
    home,
    varDir,
    host: reader.string('HOST', '127.0.0.1'),
    ports,
    redisUrl,
    quotesSeedFile: resolve(home, reader.string('QUOTES_SEED_FILE', join(home, 'data/initial_data_quotes.csv'))),
    usersSeedFile: resolve(home, reader.string('USERS_SEED_FILE', join(home, 'data/initial_data_users.csv'))),
    readyTimeoutMs: 30_000,
    stopTimeoutMs: 10_000,
    env: Object.freeze({ ...env }),
  };
  reader.done();
  return Object.freeze(config);
}
