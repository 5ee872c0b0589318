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
