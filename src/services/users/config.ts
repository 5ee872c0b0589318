import { existsSync } from 'node:fs';
import { type Env, EnvReader, readServiceConfig, type ServiceConfig } from '../../lib/config/index.ts';

export interface UsersConfig extends ServiceConfig {
  /** The users seed file (`id,name,password`). */
  readonly seedFile: string;
  readonly seedOnStart: boolean;
  /** Shortest password accepted for a new account (seed users are exempt). */
  readonly minPasswordLength: number;
}

export function loadConfig(env: Env): UsersConfig {
  const reader = new EnvReader(env);
  const config: UsersConfig = {
    ...readServiceConfig(reader, 'users', 8001, 8011),
    seedFile: reader.string('USERS_SEED_FILE', 'data/initial_data_users.csv'),
    seedOnStart: reader.bool('SEED_ON_START', true),
    minPasswordLength: reader.int('PASSWORD_MIN_LENGTH', 8, 1, 128),
  };
  if (config.seedOnStart && !existsSync(config.seedFile)) {
    reader.problem(`USERS_SEED_FILE points to a missing file: ${config.seedFile}`);
  }
  reader.done();
  return Object.freeze(config);
}
