import { errorResponses } from '../../lib/http/index.ts';
import { MESSAGE_SCHEMA, SINGLE_LINE_TEXT, USER_ID_SCHEMA } from '../../lib/http/schemas.ts';

const tags = ['users'];
const security = [{ token: [] }];

export const NAME_SCHEMA = { ...SINGLE_LINE_TEXT, minLength: 1, maxLength: 64 } as const;

export const PUBLIC_USER_SCHEMA = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    name: { type: 'string' },
    created_at: { type: 'string', format: 'date-time' },
  },
  required: ['id', 'name'],
} as const;

export const rootSchema = {
  tags,
  summary: 'Service banner (kept from the original platform)',
  response: { 200: MESSAGE_SCHEMA },
};

export const loginSchema = {
  tags,
  summary: 'Log in: returns a token valid for TOKEN_TTL_SECONDS (24 h by default)',
  body: {
    type: 'object',
    properties: {
      name: NAME_SCHEMA,
      password: { type: 'string', minLength: 1, maxLength: 1024 },
    },
    required: ['name', 'password'],
  },
  response: {
    200: {
      type: 'object',
      properties: { token: { type: 'string' }, user_id: { type: 'string' } },
      required: ['token', 'user_id'],
    },
    ...errorResponses(400, 401, 413, 415, 503),
  },
};

export const logoutSchema = {
  tags,
  summary: 'Log out: revokes the token sent in Authorization',
  security,
  response: { 200: MESSAGE_SCHEMA, ...errorResponses(400, 401, 503) },
};

export const listSchema = {
  tags,
  summary: 'List users (id and name; never passwords)',
  security,
  response: { 200: { type: 'array', items: PUBLIC_USER_SCHEMA }, ...errorResponses(401, 503) },
};

export const meSchema = {
  tags,
  summary: 'The logged-in user',
  security,
  response: { 200: PUBLIC_USER_SCHEMA, ...errorResponses(400, 401, 404, 503) },
};

export const allSchema = {
  tags,
  summary: 'Admin: users with their number of live sessions (never passwords or tokens)',
  security,
  response: {
    200: {
      type: 'array',
      items: {
        type: 'object',
        properties: { ...PUBLIC_USER_SCHEMA.properties, active_sessions: { type: 'integer' } },
        required: ['id', 'name', 'active_sessions'],
      },
    },
    ...errorResponses(401, 403, 503),
  },
};

export const createSchema = (minPasswordLength: number) => ({
  tags,
  summary: 'Admin: add a user (409 when the id or the name exists)',
  security,
  body: {
    type: 'object',
    properties: {
      id: USER_ID_SCHEMA,
      name: NAME_SCHEMA,
      password: { type: 'string', minLength: minPasswordLength, maxLength: 1024 },
    },
    required: ['id', 'name'],
  },
  response: { 201: MESSAGE_SCHEMA, ...errorResponses(400, 401, 403, 409, 413, 415, 503) },
});

export const deleteSchema = {
  tags,
  summary: 'Admin: delete a user and revoke their sessions',
  security,
  params: {
    type: 'object',
    properties: { id: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,64}$' } },
    required: ['id'],
  },
  response: { 200: MESSAGE_SCHEMA, ...errorResponses(400, 401, 403, 404, 503) },
};
