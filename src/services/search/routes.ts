import type { FastifyInstance } from 'fastify';
import type { Authenticator } from '../../lib/auth/index.ts';
import { appError } from '../../lib/errors/index.ts';
import { errorResponses } from '../../lib/http/index.ts';
import { foldText } from '../../lib/text/index.ts';
import type { SearchConfig } from './config.ts';
import type { QuoteFinder } from './search-index.ts';

export interface SearchRouteOptions {
  readonly config: SearchConfig;
  readonly search: QuoteFinder;
  readonly auth: Authenticator;
}

export async function searchRoutes(app: FastifyInstance, { config, search, auth }: SearchRouteOptions): Promise<void> {
  app.get<{ Querystring: { keyword?: string; limit?: number } }>(
    '/search',
    {
      onRequest: auth.requireUser,
      schema: {
        tags: ['search'],
        summary: 'Quotes containing a keyword, ignoring case, accents and the kind of space',
        description: '`aerolithe` finds `Aérolithe`; `zouave interplanetaire` finds the curse written with a non-breaking space.',
        security: [{ token: [] }],
        querystring: {
          type: 'object',
          properties: {
            keyword: { type: 'string', maxLength: config.maxKeywordLength },
            limit: { type: 'integer', minimum: 1, maximum: config.maxResults },
          },
        },
        response: { 200: { type: 'array', items: { type: 'string' } }, ...errorResponses(400, 401, 503) },
      },
    },
    async (request) => {
      const keyword = request.query.keyword;
      if (keyword === undefined || foldText(keyword) === '') throw appError('KEYWORD_REQUIRED');
      const found = await search.search(keyword, request.query.limit ?? config.maxResults);
      return found.map((q) => q.quote);
    },
  );
}
