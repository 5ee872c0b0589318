import { isDeepStrictEqual } from 'node:util';
import type { FastifyInstance } from 'fastify';
import type { Env } from '../../lib/config/index.ts';
import { OPENAPI_INFO, SECURITY_SCHEMES } from '../../lib/http/index.ts';
import { buildApp as buildOps } from '../../services/ops/app.ts';
import { loadConfig as loadOpsConfig } from '../../services/ops/config.ts';
import { buildApp as buildQuotes } from '../../services/quotes/app.ts';
import { loadConfig as loadQuotesConfig } from '../../services/quotes/config.ts';
import { buildApp as buildSearch } from '../../services/search/app.ts';
import { loadConfig as loadSearchConfig } from '../../services/search/config.ts';
import { buildApp as buildUsers } from '../../services/users/app.ts';
import { loadConfig as loadUsersConfig } from '../../services/users/config.ts';
import { isDocsPath, isPrivatePath } from './routing.ts';

/** The parts of an OpenAPI 3 document the merge reads and writes. */
export interface OpenApiDocument {
  openapi: string;
  info: Record<string, unknown>;
  paths: Record<string, Record<string, unknown>>;
  components: {
    schemas: Record<string, unknown>;
    securitySchemes: Record<string, unknown>;
    [key: string]: unknown;
  };
  tags?: Array<{ name: string; [key: string]: unknown }>;
  [key: string]: unknown;
}

type Loose = Record<string, unknown>;

function record(value: unknown): Loose {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Loose) : {};
}

const SCHEMA_REF = '#/components/schemas/';

/** Rewrites `$ref`s to renamed component schemas, deeply, without touching the input. */
function renameRefs(value: unknown, renames: ReadonlyMap<string, string>): unknown {
  if (Array.isArray(value)) return value.map((item) => renameRefs(item, renames));
  if (value === null || typeof value !== 'object') return value;
  const out: Loose = {};
  for (const [key, item] of Object.entries(value)) {
    if (key === '$ref' && typeof item === 'string' && item.startsWith(SCHEMA_REF)) {
      const renamed = renames.get(item.slice(SCHEMA_REF.length));
      out[key] = renamed === undefined ? item : SCHEMA_REF + renamed;
    } else {
      out[key] = renameRefs(item, renames);
    }
  }
  return out;
}

/**
 * Merges the services' OpenAPI documents into the platform's one, in order:
 * paths and component schemas are united, the services' own `/apidocs*` pages
 * and the private `/metrics` routes are left out, `info` and the security
 * schemes are the platform's. Two services documenting the same method on the
 * same path is a routing bug and throws; two different schemas under one name
 * are kept apart by suffixing the later one with its document's position.
 */
export function mergeOpenApi(docs: readonly object[]): OpenApiDocument {
  const paths: Record<string, Record<string, unknown>> = {};
  const schemas: Record<string, unknown> = {};
  const securitySchemes: Record<string, unknown> = { ...SECURITY_SCHEMES };
  const tags = new Map<string, { name: string; [key: string]: unknown }>();
  let version = '3.0.3';

  docs.forEach((raw, index) => {
    const doc = record(raw);
    if (index === 0 && typeof doc.openapi === 'string' && doc.openapi.startsWith('3.')) version = doc.openapi;
    const components = record(doc.components);

    const renames = new Map<string, string>();
    const ownSchemas = record(components.schemas);
    for (const [name, schema] of Object.entries(ownSchemas)) {
      if (!(name in schemas) || isDeepStrictEqual(schemas[name], schema)) continue;
      let candidate = `${name}_${index + 1}`;
      for (let n = 2; candidate in schemas || candidate in ownSchemas; n++) candidate = `${name}_${index + 1}_${n}`;
      renames.set(name, candidate);
    }
    const fix = <T>(value: T): T => (renames.size === 0 ? value : (renameRefs(value, renames) as T));

    for (const [name, schema] of Object.entries(ownSchemas)) {
      const target = renames.get(name) ?? name;
      if (!(target in schemas)) schemas[target] = fix(schema);
    }

    for (const [path, item] of Object.entries(record(doc.paths))) {
      if (isDocsPath(path) || isPrivatePath(path)) continue;
      const merged = paths[path] ?? {};
      for (const [method, operation] of Object.entries(record(item))) {
        if (method in merged && !isDeepStrictEqual(merged[method], fix(operation))) {
          throw new Error(`OpenAPI merge: ${method.toUpperCase()} ${path} is documented by two services`);
        }
        merged[method] = fix(operation);
      }
      paths[path] = merged;
    }

    for (const [name, scheme] of Object.entries(record(components.securitySchemes))) {
      if (!(name in securitySchemes)) securitySchemes[name] = scheme;
    }
    if (Array.isArray(doc.tags)) {
      for (const tag of doc.tags) {
        const named = record(tag);
        if (typeof named.name === 'string' && !tags.has(named.name)) tags.set(named.name, { ...named, name: named.name });
      }
    }
  });

  const merged: OpenApiDocument = {
    openapi: version,
    info: { ...OPENAPI_INFO },
    paths,
    components: { schemas, securitySchemes },
  };
  if (tags.size > 0) merged.tags = [...tags.values()];
  return merged;
}

const DOCS_ONLY = { logger: false, docsOnly: true } as const;

/** Each service's app, built for documentation only, in the order its routes appear on the page. */
const SERVICE_DOCS: ReadonlyArray<{ name: string; build: (env: Env) => Promise<FastifyInstance> }> = [
  { name: 'users', build: (env) => buildUsers(loadUsersConfig(env), DOCS_ONLY) },
  { name: 'quotes', build: (env) => buildQuotes(loadQuotesConfig(env), DOCS_ONLY) },
  { name: 'search', build: (env) => buildSearch(loadSearchConfig(env), DOCS_ONLY) },
  { name: 'ops', build: (env) => buildOps(loadOpsConfig(env), DOCS_ONLY) },
];

/**
 * Builds every service in-process without Redis, asks each for its OpenAPI
 * document and merges them. `env` feeds the services' `loadConfig` so limits
 * shown in schemas (page sizes, lengths) match the running services.
 */
export async function buildPlatformOpenApi(env: Env = {}): Promise<OpenApiDocument> {
  // Docs-only apps authenticate nobody: the production admin-key rule would
  // only stop a gateway that has no ADMIN_KEY from drawing its docs page.
  const docsEnv: Env = { ...env, NODE_ENV: 'development' };
  const apps: FastifyInstance[] = [];
  try {
    const docs: object[] = [];
    for (const service of SERVICE_DOCS) {
      const app = await service.build(docsEnv);
      apps.push(app);
      await app.ready();
      docs.push(app.swagger() as object);
    }
    return mergeOpenApi(docs);
  } finally {
    await Promise.allSettled(apps.map((app) => app.close()));
  }
}
