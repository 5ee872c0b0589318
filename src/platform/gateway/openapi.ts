import { isDeepStrictEqual } from 'node:util';
import { OPENAPI_INFO, SECURITY_SCHEMES } from '../../lib/http/index.ts';
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

/** A service whose own OpenAPI document (at `<url>/apidocs/json`) goes on the platform's page. */
export interface DocsUpstream {
  readonly name: string;
  /** The service's base URL (its path, if any, is ignored). */
  readonly url: string;
}

export interface PlatformDocsOptions {
  /** Longest one service may take to hand its document over. */
  readonly timeoutMs: number;
  /** How long after a failed fetch that service is asked again (default 5 s). */
  readonly retryMs?: number;
  /** A document older than this is fetched again in the background, the old one served meanwhile (default 5 min). */
  readonly maxAgeMs?: number;
  readonly now?: () => number;
}

interface Fetched {
  doc: object | undefined;
  fetchedAt: number;
  /** No new try before this time, after a failure. */
  retryAt: number;
  pending: Promise<void> | undefined;
}

function isOpenApiDocument(value: unknown): value is object {
  const doc = record(value);
  return typeof doc.openapi === 'string' && doc.paths !== null && typeof doc.paths === 'object';
}

/**
 * The platform's documentation page, assembled from the services' own
 * documents fetched over HTTP (never by building the services here): each
 * is fetched on the first documentation request and cached; one that could
 * not be fetched is asked again on a later request once `retryMs` has passed,
 * and the page shows what the others gave meanwhile, so it never fails.
 * Documents are refreshed every `maxAgeMs`, so a redeployed service's routes
 * appear without restarting the gateway.
 */
export class PlatformDocs {
  readonly #upstreams: readonly DocsUpstream[];
  readonly #fetched: Fetched[];
  readonly #timeoutMs: number;
  readonly #retryMs: number;
  readonly #maxAgeMs: number;
  readonly #now: () => number;
  #merged: OpenApiDocument = mergeOpenApi([]);

  constructor(upstreams: readonly DocsUpstream[], options: PlatformDocsOptions) {
    this.#upstreams = upstreams;
    this.#fetched = upstreams.map(() => ({ doc: undefined, fetchedAt: 0, retryAt: 0, pending: undefined }));
    this.#timeoutMs = options.timeoutMs;
    this.#retryMs = options.retryMs ?? 5_000;
    this.#maxAgeMs = options.maxAgeMs ?? 300_000;
    this.#now = options.now ?? Date.now;
  }

  /** Fetches what is missing (awaited) or old (in the background). Never throws. */
  async refresh(log: DocsLog): Promise<void> {
    const now = this.#now();
    const waits: Promise<void>[] = [];
    this.#fetched.forEach((entry, index) => {
      if (entry.doc === undefined) {
        if (entry.pending !== undefined) waits.push(entry.pending);
        else if (now >= entry.retryAt) waits.push(this.#fetch(index, log));
      } else if (entry.pending === undefined && now - entry.fetchedAt >= this.#maxAgeMs && now >= entry.retryAt) {
        void this.#fetch(index, log);
      }
    });
    await Promise.all(waits);
  }

  /** The merged document of every service fetched so far. */
  current(): OpenApiDocument {
    return this.#merged;
  }

  /** Which services' documents are on the page now. */
  get services(): string[] {
    return this.#upstreams.filter((_, index) => this.#fetched[index]?.doc !== undefined).map((u) => u.name);
  }

  #fetch(index: number, log: DocsLog): Promise<void> {
    const upstream = this.#upstreams[index] as DocsUpstream;
    const entry = this.#fetched[index] as Fetched;
    entry.pending = (async () => {
      try {
        const response = await fetch(new URL('/apidocs/json', upstream.url), { signal: AbortSignal.timeout(this.#timeoutMs) });
        if (!response.ok) throw new Error(`answered ${response.status}`);
        const doc: unknown = await response.json();
        if (!isOpenApiDocument(doc)) throw new Error('not an OpenAPI document');
        entry.doc = doc;
        entry.fetchedAt = this.#now();
        this.#merge(log);
      } catch (err) {
        entry.retryAt = this.#now() + this.#retryMs;
        log.warn(
          { err, upstream: upstream.name, retryMs: this.#retryMs },
          entry.doc === undefined
            ? 'API documentation of a service unavailable, page served without it'
            : 'API documentation refresh failed',
        );
      } finally {
        entry.pending = undefined;
      }
    })();
    return entry.pending;
  }

  #merge(log: DocsLog): void {
    const docs = this.#fetched.map((entry) => entry.doc).filter((doc): doc is object => doc !== undefined);
    try {
      this.#merged = mergeOpenApi(docs);
    } catch (err) {
      // Two services documenting one route is a routing bug: say so, and keep the last good page.
      log.error({ err }, 'API documentation merge failed');
    }
  }
}

/** Where `PlatformDocs` reports (a request's logger). */
export interface DocsLog {
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}
