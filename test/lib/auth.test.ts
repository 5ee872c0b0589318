import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hashPassword, readCredential, tokenDigest, verifyPassword } from '../../src/lib/auth/index.ts';

test('hashPassword stores scrypt with its parameters, salt and key', async () => {
  const hash = await hashPassword('inWonderland');
  assert.match(hash, /^scrypt\$16384\$8\$1\$[\w-]{22}\$[\w-]{43}$/);
  assert.ok(!hash.includes('inWonderland'));
});

test('hashPassword salts: two hashes of one password differ', async () => {
  const [a, b] = await Promise.all([hashPassword('squarePants'), hashPassword('squarePants')]);
  assert.notEqual(a, b);
});

test('verifyPassword accepts the right password', async () => {
  assert.equal(await verifyPassword('jeSuis', await hashPassword('jeSuis')), true);
});

test('verifyPassword accepts a password typed in another Unicode normal form', async () => {
  assert.equal(await verifyPassword('Ze\u0301phyr', await hashPassword('Zéphyr')), true);
});

const wrongPasswords = ['jesuis', 'jeSuis ', '', 'inWonderland'];

for (const wrong of wrongPasswords) {
  test(`verifyPassword refuses the wrong password ${JSON.stringify(wrong)}`, async () => {
    assert.equal(await verifyPassword(wrong, await hashPassword('jeSuis')), false);
  });
}

const malformed: ReadonlyArray<readonly [string, string]> = [
  ['an empty string', ''],
  ['a clear-text password', 'jeSuis'],
  ['another algorithm', 'bcrypt$16384$8$1$c2FsdA$aGFzaA'],
  ['too few fields', 'scrypt$16384$8$1$c2FsdA'],
  ['too many fields', 'scrypt$16384$8$1$c2FsdA$aGFzaA$x'],
  ['an empty key', 'scrypt$16384$8$1$c2FsdA$'],
  ['a key of the wrong length', 'scrypt$16384$8$1$c2FsdA$aGFzaA'],
  ['a cost that is not a number', 'scrypt$abc$8$1$c2FsdA$aGFzaA'],
  ['a cost that is not a power of two', 'scrypt$3$8$1$c2FsdA$aGFzaA'],
  ['a cost scrypt cannot take', 'scrypt$1099511627776$8$1$c2FsdA$aGFzaA'],
];

for (const [name, stored] of malformed) {
  test(`verifyPassword answers false, without throwing, for a hash with ${name}`, async () => {
    assert.equal(await verifyPassword('jeSuis', stored), false);
  });
}

const credentials: ReadonlyArray<readonly [string, string | undefined, string | null]> = [
  ['reads a raw token', 'abc123', 'abc123'],
  ['reads a Bearer token', 'Bearer abc123', 'abc123'],
  ['reads the scheme in any case with several spaces', 'bearer   abc123', 'abc123'],
  ['trims around a raw token', '  abc123  ', 'abc123'],
  ['trims around a Bearer token', 'BEARER\tabc123 ', 'abc123'],
  ['gives null without a header', undefined, null],
  ['gives null for an empty header', '', null],
  ['gives null for a blank header', '   ', null],
  ['gives null for a Bearer scheme with only blanks after it', 'Bearer    \t', null],
  ['accepts 512 characters', 'x'.repeat(512), 'x'.repeat(512)],
  ['gives null for more than 512 characters', 'x'.repeat(513), null],
  ['gives null for a too long Bearer token', `Bearer ${'x'.repeat(513)}`, null],
];

for (const [name, header, expected] of credentials) {
  test(`readCredential ${name}`, () => {
    assert.equal(readCredential(header), expected);
  });
}

test('tokenDigest is the hex SHA-256 of the token', () => {
  assert.equal(tokenDigest('abc'), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
});
