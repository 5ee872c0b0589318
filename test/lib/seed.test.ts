import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseCsv, parseQuotesFile, parseUsersFile, readQuotesFile, readUsersFile } from '../../src/lib/seed/index.ts';

const quotesCases: ReadonlyArray<{ name: string; text: string; expected: string[] }> = [
  { name: 'drops the quote header', text: 'quote\nMille sabords\n', expected: ['Mille sabords'] },
  {
    name: 'keeps the first line when there is no header',
    text: 'Mille sabords\nBachi-bouzouk',
    expected: ['Mille sabords', 'Bachi-bouzouk'],
  },
  { name: 'recognises the header in any case', text: 'Quote\r\nA\r\nB\r\n', expected: ['A', 'B'] },
  {
    name: 'takes a line with commas as one quote',
    text: 'quote\nBlague, fumisterie et compagnie\n',
    expected: ['Blague, fumisterie et compagnie'],
  },
  { name: 'skips blank and whitespace-only lines', text: 'quote\n\nA\n   \n\u00A0\nB\n\n', expected: ['A', 'B'] },
  { name: 'trims each line', text: 'quote\n  A  \n', expected: ['A'] },
  { name: 'removes a byte-order mark', text: '\uFEFFquote\nA', expected: ['A'] },
  {
    name: 'unwraps CSV-quoted lines and their doubled quotes',
    text: 'quote\n"Dit ""Moule"", à gaufres"\n',
    expected: ['Dit "Moule", à gaufres'],
  },
  { name: 'keeps a lone double quote', text: 'quote\n"\n', expected: ['"'] },
  {
    name: 'keeps non-breaking spaces inside a quote',
    text: 'quote\nZouave\u00A0interplanétaire',
    expected: ['Zouave\u00A0interplanétaire'],
  },
  { name: 'gives nothing for an empty file', text: '', expected: [] },
];

for (const { name, text, expected } of quotesCases) {
  test(`parseQuotesFile ${name}`, () => {
    assert.deepEqual(parseQuotesFile(text), expected);
  });
}

test('readQuotesFile reads the 415 curses of the real seed file, none empty', async () => {
  const quotes = await readQuotesFile('data/initial_data_quotes.csv');
  assert.equal(quotes.length, 415);
  assert.equal(quotes[0], 'Accapareur');
  assert.ok(
    quotes.every((q) => q.trim().length > 0),
    'an empty quote was read',
  );
  assert.ok(!quotes.includes('quote'), 'the header was read as a quote');
});

test('readQuotesFile keeps "Blague, fumisterie et compagnie" as one quote', async () => {
  const quotes = await readQuotesFile('data/initial_data_quotes.csv');
  const blague = quotes.filter((q) => q.startsWith('Blague'));
  assert.deepEqual(blague, ['Blague,\u00A0fumisterie\u00A0et compagnie']);
  assert.ok(!quotes.some((q) => q.startsWith('fumisterie')), 'the line was split at its comma');
});

test('readQuotesFile keeps the non-breaking space of "Zouave interplanétaire"', async () => {
  const quotes = await readQuotesFile('data/initial_data_quotes.csv');
  assert.ok(quotes.includes('Zouave\u00A0interplanétaire'));
});

const csvCases: ReadonlyArray<{ name: string; text: string; expected: string[][] }> = [
  {
    name: 'splits rows and fields',
    text: 'a,b\nc,d\n',
    expected: [
      ['a', 'b'],
      ['c', 'd'],
    ],
  },
  {
    name: 'reads a last row without a newline',
    text: 'a,b\nc,d',
    expected: [
      ['a', 'b'],
      ['c', 'd'],
    ],
  },
  {
    name: 'accepts CRLF and lone CR line ends',
    text: 'a,b\r\nc,d\re,f',
    expected: [
      ['a', 'b'],
      ['c', 'd'],
      ['e', 'f'],
    ],
  },
  { name: 'keeps commas inside quoted fields', text: '"a,b",c', expected: [['a,b', 'c']] },
  { name: 'turns doubled quotes into one', text: '"say ""hi""",x', expected: [['say "hi"', 'x']] },
  { name: 'keeps newlines inside quoted fields', text: '"line 1\nline 2",x', expected: [['line 1\nline 2', 'x']] },
  {
    name: 'reads empty fields',
    text: 'a,,c\n,,x',
    expected: [
      ['a', '', 'c'],
      ['', '', 'x'],
    ],
  },
  { name: 'reads a quoted empty field', text: '"",x', expected: [['', 'x']] },
  { name: 'skips blank rows', text: 'a\n\n  \n,\nb\n', expected: [['a'], ['b']] },
  { name: 'removes a byte-order mark', text: '\uFEFFid,name', expected: [['id', 'name']] },
  { name: 'gives nothing for an empty text', text: '', expected: [] },
];

for (const { name, text, expected } of csvCases) {
  test(`parseCsv ${name}`, () => {
    assert.deepEqual(parseCsv(text), expected);
  });
}

test('parseUsersFile reads id, name and password by header', () => {
  assert.deepEqual(parseUsersFile('id,name,password\n0,Alice,inWonderland\n'), [
    { id: '0', name: 'Alice', password: 'inWonderland' },
  ]);
});

test('parseUsersFile accepts the columns in any order and any case', () => {
  assert.deepEqual(parseUsersFile('Password,NAME,Id\r\nsecret,Bob,1\r\n'), [{ id: '1', name: 'Bob', password: 'secret' }]);
});

test('parseUsersFile trims id and name but keeps the password as written', () => {
  assert.deepEqual(parseUsersFile('id,name,password\n 7 , Zoé , pass word \n'), [
    { id: '7', name: 'Zoé', password: ' pass word ' },
  ]);
});

test('parseUsersFile reads a quoted name holding a comma', () => {
  assert.deepEqual(parseUsersFile('id,name,password\n3,"Haddock, Archibald",whisky\n'), [
    { id: '3', name: 'Haddock, Archibald', password: 'whisky' },
  ]);
});

test('parseUsersFile gives nothing for an empty file', () => {
  assert.deepEqual(parseUsersFile(''), []);
});

const badUsersCases: ReadonlyArray<{ name: string; text: string; error: RegExp }> = [
  { name: 'a missing password column', text: 'id,name\n0,Alice\n', error: /no "password" column/ },
  { name: 'a missing id column', text: 'name,password\nAlice,x\n', error: /no "id" column/ },
  { name: 'a row without a password', text: 'id,name,password\n0,Alice,\n', error: /row 2 lacks id, name or password/ },
  { name: 'a row with a blank name', text: 'id,name,password\n0,Alice,a\n1,  ,b\n', error: /row 3 lacks/ },
  { name: 'a short row', text: 'id,name,password\n0\n', error: /row 2 lacks/ },
];

for (const { name, text, error } of badUsersCases) {
  test(`parseUsersFile refuses ${name}`, () => {
    assert.throws(() => parseUsersFile(text), error);
  });
}

test('readUsersFile reads the three demo users of the real seed file', async () => {
  assert.deepEqual(await readUsersFile('data/initial_data_users.csv'), [
    { id: '0', name: 'Alice', password: 'inWonderland' },
    { id: '1', name: 'Bob', password: 'squarePants' },
    { id: '2', name: 'Charlie', password: 'jeSuis' },
  ]);
});
