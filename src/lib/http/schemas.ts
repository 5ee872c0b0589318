/** A user id: a short slug (`alice`, `42`, `user-7`) or a non-negative integer, as clients send either. */
export const USER_ID_SCHEMA = {
  anyOf: [
    // minLength first, so an empty id reads as a missing one (the contract's message), not a bad format.
    { type: 'string', minLength: 1, pattern: '^[A-Za-z0-9_-]{1,64}$' },
    { type: 'integer', minimum: 0, maximum: 9_007_199_254_740_991 },
  ],
  description: 'User id: a slug of letters, digits, _ or - (at most 64), or a non-negative integer',
} as const;

/** User ids are stored and answered as strings ("0"), however the client sent them. */
export function normalizeUserId(id: string | number): string {
  return String(id);
}

/** `:id` of a quote: a positive integer. */
export const QUOTE_ID_PARAMS = {
  type: 'object',
  properties: { id: { type: 'integer', minimum: 1, maximum: 9_007_199_254_740_991 } },
  required: ['id'],
} as const;

export const MESSAGE_SCHEMA = {
  type: 'object',
  properties: { message: { type: 'string' } },
  required: ['message'],
} as const;
