/**
 * Folds text for search: lower case, accents removed, every kind of space
 * (non-breaking, narrow, tabs, runs of spaces) turned into one plain space,
 * typographic apostrophes made plain. `Zouave interplanétaire` (with a
 * non-breaking space) and `zouave  interplanetaire` fold to the same string.
 */
export function foldText(text: string): string {
  return text
    .normalize('NFD')
    .replace(/\p{M}+/gu, '')
    .replace(/[\u2018\u2019\u02BC]/g, "'")
    .replace(/[\s\u00A0\u2007\u202F]+/g, ' ')
    .toLowerCase()
    .trim()
    .replace(/œ/g, 'oe')
    .replace(/æ/g, 'ae');
}

/**
 * Characters no stored text may hold: C0 controls (newline and tab included), DEL, C1 controls (U+0085 NEL
 * among them), the Unicode line and paragraph separators (U+2028, U+2029: line breaks too), and the
 * bidirectional embedding, override and isolate characters (U+202A–U+202E, U+2066–U+2069), which make
 * displayed text read differently from what is stored. As a regular-expression character class body.
 */
const FORBIDDEN = '\\u0000-\\u001f\\u007f-\\u009f\\u2028-\\u202e\\u2066-\\u2069';
/** The same, less tab (U+0009) and line feed (U+000A), which multi-line text may hold. */
const FORBIDDEN_IN_BLOCK = '\\u0000-\\u0008\\u000a-\\u001f\\u007f-\\u009f\\u2028-\\u202e\\u2066-\\u2069';

/**
 * One line of text (a user name, a quote, an incident title): no character of the forbidden set. A JSON-schema
 * `pattern` as well as a regular-expression source.
 */
export const SINGLE_LINE_TEXT_PATTERN = `^[^${FORBIDDEN}]*$`;

/**
 * Multi-line text (an incident note): the single-line rule, except that tab, line feed and CR LF line ends
 * are allowed (a CR alone is not).
 */
export const MULTI_LINE_TEXT_PATTERN = `^(?:[^${FORBIDDEN_IN_BLOCK}]|\\r?\\n)*$`;

/** Every character of the forbidden set, to replace or escape in text that must be shown whatever it holds. */
export const FORBIDDEN_TEXT_CHARACTERS = new RegExp(`[${FORBIDDEN}]`, 'gu');

const SINGLE_LINE = new RegExp(SINGLE_LINE_TEXT_PATTERN, 'u');
const MULTI_LINE = new RegExp(MULTI_LINE_TEXT_PATTERN, 'u');

/** True when `text` holds none of the characters stored text may not hold (see {@link SINGLE_LINE_TEXT_PATTERN}). */
export function isSingleLineText(text: string): boolean {
  return SINGLE_LINE.test(text);
}

/** True when `text` is acceptable multi-line text: {@link isSingleLineText} plus tabs, LF and CR LF line ends. */
export function isMultiLineText(text: string): boolean {
  return MULTI_LINE.test(text);
}
