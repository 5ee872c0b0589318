import assert from 'node:assert/strict';
import { test } from 'node:test';
import { foldText, isMultiLineText, isSingleLineText } from '../../src/lib/text/index.ts';

const cases: ReadonlyArray<readonly [string, string, string]> = [
  ['lower-cases', 'MILLE SABORDS', 'mille sabords'],
  ['removes acute and grave accents', 'Aérolithe à', 'aerolithe a'],
  ['removes cedillas and circumflexes', 'Façon Bêtise', 'facon betise'],
  ['turns a non-breaking space into a plain space', 'Zouave\u00A0interplanétaire', 'zouave interplanetaire'],
  ['turns narrow and figure spaces into plain spaces', 'a\u202Fb\u2007c', 'a b c'],
  ['collapses runs of spaces and tabs', 'zouave \t\n  interplanetaire', 'zouave interplanetaire'],
  ['trims both ends', '  \u00A0mille\u00A0 ', 'mille'],
  ['makes typographic apostrophes plain', 'crème d\u2019emplâtre', "creme d'emplatre"],
  ['expands the oe ligature', 'Œil de bœuf', 'oeil de boeuf'],
  ['expands the ae ligature', 'Æsthète', 'aesthete'],
  ['folds decomposed accents like composed ones', 'Ae\u0301rolithe', 'aerolithe'],
  ['folds blank text to nothing', ' \u00A0\t ', ''],
  ['keeps punctuation', 'Blague, fumisterie', 'blague, fumisterie'],
];

for (const [behaviour, input, expected] of cases) {
  test(`foldText ${behaviour}`, () => {
    assert.equal(foldText(input), expected);
  });
}

test('foldText gives the same result for the seed spelling and a plain-typed keyword', () => {
  assert.equal(foldText('Zouave\u00A0interplanétaire'), foldText('zouave  interplanetaire'));
});

const textRules: ReadonlyArray<readonly [string, string, boolean, boolean]> = [
  // [what, text, accepted on one line, accepted in a multi-line note]
  ['accented French and typographic marks', 'Ça, c’est « du français » : où ?', true, true],
  ['emoji and a non-breaking space', 'Tonnerre\u00A0de Brest ! 🚢', true, true],
  ['the empty string', '', true, true],
  ['NUL', 'a\u0000b', false, false],
  ['a line feed', 'a\nb', false, true],
  ['CR LF', 'a\r\nb', false, true],
  ['a lone CR', 'a\rb', false, false],
  ['a tab', 'a\tb', false, true],
  ['ESC', 'a\u001bb', false, false],
  ['DEL', 'a\u007fb', false, false],
  ['a C1 NEL (U+0085)', 'a\u0085b', false, false],
  ['U+009F', 'a\u009fb', false, false],
  ['a line separator (U+2028)', 'a\u2028b', false, false],
  ['a left-to-right embedding (U+202A)', 'a\u202ab', false, false],
  ['a right-to-left override (U+202E)', 'a\u202eb', false, false],
  ['a left-to-right isolate (U+2066)', 'a\u2066b', false, false],
  ['a pop directional isolate (U+2069)', 'a\u2069b', false, false],
  ['a zero-width joiner (allowed: emoji sequences need it)', '👨\u200d🚀', true, true],
];

for (const [what, text, line, block] of textRules) {
  test(`isSingleLineText / isMultiLineText: ${what} → ${line} / ${block}`, () => {
    assert.equal(isSingleLineText(text), line);
    assert.equal(isMultiLineText(text), block);
  });
}
