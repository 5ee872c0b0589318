import { errorResponses } from '../../lib/http/index.ts';
import { MESSAGE_SCHEMA, QUOTE_ID_PARAMS, SINGLE_LINE_TEXT, USER_ID_SCHEMA } from '../../lib/http/schemas.ts';

export const QUOTE_SCHEMA = {
  type: 'object',
  properties: {
    id: { type: 'integer' },
    quote: { type: 'string' },
    user_id: { type: 'string', description: 'Author; absent for the seed curses' },
    created_at: { type: 'string', format: 'date-time' },
    updated_at: { type: 'string', format: 'date-time' },
  },
  required: ['id', 'quote'],
} as const;

const security = [{ token: [] }];
const tags = ['quotes'];

export function quoteBody(maxLength: number) {
  return {
    type: 'object',
    properties: {
      user_id: USER_ID_SCHEMA,
      quote: { ...SINGLE_LINE_TEXT, minLength: 1, maxLength },
    },
    required: ['user_id', 'quote'],
  } as const;
}

export const listSchema = (pageCap: number) => ({
  tags,
  summary: 'List quotes, ordered by id',
  description: `Paginated with \`limit\` (at most ${pageCap}) and \`offset\`; the total is in \`X-Total-Count\`.`,
  querystring: {
    type: 'object',
    properties: {
      limit: { type: 'integer', minimum: 1, maximum: pageCap },
      offset: { type: 'integer', minimum: 0, maximum: 9_007_199_254_740_991 },
    },
  },
  response: { 200: { type: 'array', items: QUOTE_SCHEMA }, ...errorResponses(400, 503) },
});

export const randomSchema = {
  tags,
  summary: 'A random Captain Haddock curse',
  response: { 200: QUOTE_SCHEMA, ...errorResponses(404, 503) },
};

export const getSchema = {
  tags,
  summary: 'One quote by id',
  params: QUOTE_ID_PARAMS,
  response: { 200: QUOTE_SCHEMA, ...errorResponses(400, 404, 503) },
};

export const createSchema = (maxLength: number) => ({
  tags,
  summary: 'Add a quote (a user posts as themself; an admin as anyone)',
  security,
  body: quoteBody(maxLength),
  response: {
    201: {
      type: 'object',
      properties: { message: { type: 'string' }, id: { type: 'integer' } },
      required: ['message', 'id'],
    },
    ...errorResponses(400, 401, 403, 413, 415, 503),
  },
});

export const updateSchema = (maxLength: number) => ({
  tags,
  summary: "Modify a quote's text (its author or an admin)",
  security,
  params: QUOTE_ID_PARAMS,
  body: {
    type: 'object',
    properties: { quote: { ...SINGLE_LINE_TEXT, minLength: 1, maxLength } },
    required: ['quote'],
  },
  response: { 200: QUOTE_SCHEMA, ...errorResponses(400, 401, 403, 404, 413, 415, 503) },
});

export const deleteSchema = {
  tags,
  summary: 'Delete a quote (its author or an admin)',
  security,
  params: QUOTE_ID_PARAMS,
  response: { 200: MESSAGE_SCHEMA, ...errorResponses(400, 401, 403, 404, 503) },
};
