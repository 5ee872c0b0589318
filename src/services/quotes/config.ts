import { existsSync } from 'node:fs';
import { type Env, EnvReader, readServiceConfig, type ServiceConfig } from '../../lib/config/index.ts';

export interface QuotesConfig extends ServiceConfig {
  /** The quotes seed file (one quote per line after a `quote` header). */
  readonly seedFile: string;
  /** Load the seed file on start when this database was never seeded. */
  readonly seedOnStart: boolean;
  /** Most quotes one page of `GET /quotes` returns. */
  readonly pageCap: number;
  /** Longest quote accepted, in characters. */
  readonly maxQuoteLength: number;
}

export function loadConfig(env: Env): QuotesConfig {
  const reader = new EnvReader(env);
  const config: QuotesConfig = {
    ...readServiceConfig(reader, 'quotes', 8002, 8012),
    seedFile: reader.string('QUOTES_SEED_FILE', 'data/initial_data_quotes.csv'),
    seedOnStart: reader.bool('SEED_ON_START', true),
    pageCap: reader.int('QUOTES_PAGE_CAP', 1_000, 1_000, 100_000),
    maxQuoteLength: reader.int('QUOTE_MAX_LENGTH', 1_000, 10, 10_000),
  };
  if (config.seedOnStart && !existsSync(config.seedFile)) {
    reader.problem(`QUOTES_SEED_FILE points to a missing file: ${config.seedFile}`);
  }
  reader.done();
  return Object.freeze(config);
}
