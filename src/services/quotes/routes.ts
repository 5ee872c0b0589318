import type { FastifyInstance } from 'fastify';
import type { Authenticator } from '../../lib/auth/index.ts';
import { appError, ERRORS } from '../../lib/errors/index.ts';
import { normalizeUserId } from '../../lib/http/schemas.ts';
import type { QuotesConfig } from './config.ts';
import type { Quote, QuoteStore } from './quote-store.ts';
import { createSchema, deleteSchema, getSchema, listSchema, randomSchema, updateSchema } from './schemas.ts';

export interface QuotesRouteOptions {
  readonly config: QuotesConfig;
  readonly store: QuoteStore;
  readonly auth: Authenticator;
}

/** Trimmed text, or null when only blanks remain. */
function meaningful(text: string): string | null {
  const trimmed = text.trim();
  return trimmed.length === 0 ? null : trimmed;
}

export async function quotesRoutes(app: FastifyInstance, { config, store, auth }: QuotesRouteOptions): Promise<void> {
  // A page costs what it returns: one script reads the ids at these ranks of the id index, their quotes and
  // the total, from one instant; nothing here depends on the catalogue's size.
  app.get<{ Querystring: { limit?: number; offset?: number } }>(
    '/quotes',
    { schema: listSchema(config.pageCap) },
    async (request, reply) => {
      const limit = request.query.limit ?? config.pageCap;
      const offset = request.query.offset ?? 0;
      const { total, quotes } = await store.pageWithTotal(offset, limit);
      reply.header('x-total-count', total).type('application/json; charset=utf-8');
      return reply.send(JSON.stringify(quotes));
    },
  );

  app.get('/quotes/random', { schema: randomSchema }, async () => {
    const quote = await store.random();
    if (quote === null) throw appError('QUOTE_NOT_FOUND');
    return quote;
  });

  app.get<{ Params: { id: string } }>('/quotes/:id', { schema: getSchema }, async (request) => {
    const quote = await store.get(Number(request.params.id));
    if (quote === null) throw appError('QUOTE_NOT_FOUND');
    return quote;
  });

  app.post<{ Body: { user_id: string | number; quote: string } }>(
    '/quotes',
    {
      schema: createSchema(config.maxQuoteLength),
      onRequest: auth.requireUser,
      config: { missingMessage: ERRORS.QUOTE_FIELDS_REQUIRED.message },
    },
    async (request, reply) => {
      const text = meaningful(request.body.quote);
      if (text === null) throw appError('QUOTE_FIELDS_REQUIRED');
      const userId = normalizeUserId(request.body.user_id);
      const principal = request.principal;
      if (principal?.role === 'user' && principal.userId !== userId) throw appError('FORBIDDEN_USER_ID');
      const quote = await store.create(text, userId);
      request.log.info({ quoteId: quote.id, userId }, 'quote added');
      reply.code(201);
      return { message: 'Citation ajoutée', id: quote.id };
    },
  );

  app.put<{ Params: { id: string }; Body: { quote: string } }>(
    '/quotes/:id',
    {
      schema: updateSchema(config.maxQuoteLength),
      onRequest: auth.requireUser,
      config: { missingMessage: ERRORS.QUOTE_TEXT_REQUIRED.message },
    },
    async (request) => {
      const text = meaningful(request.body.quote);
      if (text === null) throw appError('QUOTE_TEXT_REQUIRED');
      const result = await store.update(Number(request.params.id), text, actorOf(request.principal));
      const quote: Quote = unwrap(result);
      request.log.info({ quoteId: quote.id }, 'quote updated');
      return quote;
    },
  );

  app.delete<{ Params: { id: string } }>(
    '/quotes/:id',
    { schema: deleteSchema, onRequest: auth.requireUser },
    async (request) => {
      const id = Number(request.params.id);
      unwrap(await store.delete(id, actorOf(request.principal)));
      request.log.info({ quoteId: id }, 'quote deleted');
      return { message: 'Citation supprimée' };
    },
  );
}

/** The user whose ownership is checked; null for an admin, who may touch any quote. */
function actorOf(principal: { role: 'admin' | 'user'; userId: string | null } | null): string | null {
  if (principal === null) throw appError('AUTH_REQUIRED');
  return principal.role === 'admin' ? null : principal.userId;
}

function unwrap(result: Awaited<ReturnType<QuoteStore['update']>>): Quote {
  if (result.status === 'not_found') throw appError('QUOTE_NOT_FOUND');
  if (result.status === 'forbidden') throw appError('FORBIDDEN_OWNER');
  return result.quote;
}
