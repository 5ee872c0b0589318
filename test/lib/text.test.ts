import assert from 'node:assert/strict';
import { test } from 'node:test';
import { foldText } from '../../src/lib/text/index.ts';

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
