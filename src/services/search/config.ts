import { type Env, EnvReader, readServiceConfig, type ServiceConfig } from '../../lib/config/index.ts';

export interface SearchConfig extends ServiceConfig {
  /** Most results one search returns (and the default `limit`). */
  readonly maxResults: number;
  readonly maxKeywordLength: number;
}

export function loadConfig(env: Env): SearchConfig {
  const reader = new EnvReader(env);
  const config: SearchConfig = {
    ...readServiceConfig(reader, 'search', 8003, 8013),
    maxResults: reader.int('SEARCH_MAX_RESULTS', 1_000, 1, 100_000),
    maxKeywordLength: reader.int('SEARCH_MAX_KEYWORD_LENGTH', 200, 1, 1_000),
  };
  reader.done();
  return Object.freeze(config);
}
