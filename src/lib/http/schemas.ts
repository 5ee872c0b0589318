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

const CANONICAL_QUOTE_ID = /^[1-9][0-9]{0,15}$/;

/**
 * A quote id as it may appear in a path: a positive integer in canonical decimal, 1 to 2^53−1 — digits only,
 * no leading zero, sign, exponent, radix prefix, fraction or blank, so that one quote has one address
 * (`01`, `0x10`, `1E1`, `+1` or `1.0` are not aliases of a quote).
 */
export function isQuoteId(text: string): boolean {
  return CANONICAL_QUOTE_ID.test(text) && Number(text) <= Number.MAX_SAFE_INTEGER;
}

/**
 * `:id` of a quote: checked as text by {@link isQuoteId} (format `quote-id`, 400 `QUOTE_ID_INVALID` otherwise),
 * then read with `Number()` by the handler. Fastify decodes the path first: `/quotes/%31` is `/quotes/1`.
 */
export const QUOTE_ID_PARAMS = {
  type: 'object',
  properties: {
    id: {
      type: 'string',
      format: 'quote-id',
      description: 'A positive integer in canonical decimal: 1 to 9007199254740991, no sign and no leading zero',
    },
  },
  required: ['id'],
} as const;

/**
 * One line of stored text (a name, a quote, an incident title): no control character (C0, C1, newline and tab
 * included) and no bidirectional override or isolate (`src/lib/text`); 400 `TEXT_INVALID_CHARACTERS` otherwise.
 */
export const SINGLE_LINE_TEXT = { type: 'string', format: 'single-line-text' } as const;

/** Multi-line stored text (an incident note): as {@link SINGLE_LINE_TEXT}, with tabs, LF and CR LF line ends. */
export const MULTI_LINE_TEXT = { type: 'string', format: 'multi-line-text' } as const;

export const MESSAGE_SCHEMA = {
  type: 'object',
  properties: { message: { type: 'string' } },
  required: ['message'],
} as const;
