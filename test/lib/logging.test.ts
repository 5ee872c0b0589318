import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { createLogger, pathOnly, RotatingFile, SEVERITY } from '../../src/lib/logging/index.ts';
import { captureLogs } from '../helpers/metrics.ts';

function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'haddock-logging-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** The retained files, oldest first: x.log.N … x.log.1, x.log. */
function retained(dir: string, base: string): string[] {
  const rank = (name: string) => (name === base ? 0 : Number(name.slice(base.length + 1)));
  return readdirSync(dir)
    .filter((name) => name === base || name.startsWith(`${base}.`))
    .sort((a, b) => rank(b) - rank(a))
    .map((name) => join(dir, name));
}

function linesOf(files: readonly string[]): string[] {
  return files.flatMap((file) =>
    readFileSync(file, 'utf8')
      .split('\n')
      .filter((l) => l.length > 0),
  );
}

/** Logs `n` numbered lines through a real pino logger writing to stdout (captured) and a rotating file. */
function logNumbered(file: string, n: number, maxBytes: number, keep: number) {
  const out = captureLogs();
  const { logger, close } = createLogger({
    service: 'rot',
    level: 'info',
    stream: out.stream,
    file: { path: file, maxBytes, keep },
  });
  for (let i = 1; i <= n; i++) logger.info({ i, filler: 'x'.repeat(i % 40) }, 'numbered line');
  close();
  return out;
}

test('rotation: at most keep+1 files, each within the size limit, every line whole JSON, the newest lines kept in order', (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'quotes.log');
  const out = logNumbered(file, 2_000, 4_096, 3);
  const files = retained(dir, 'quotes.log');
  assert.deepEqual(
    files.map((f) => f.slice(dir.length + 1)),
    ['quotes.log.3', 'quotes.log.2', 'quotes.log.1', 'quotes.log'],
  );
  for (const f of files) assert.ok(statSync(f).size <= 4_096, `${f} is ${statSync(f).size} bytes`);
  const numbers = linesOf(files).map((line) => (JSON.parse(line) as { i: number }).i);
  // The retained lines are exactly the last ones written, none missing, none repeated, in order.
  const last = numbers.length;
  assert.deepEqual(
    numbers,
    Array.from({ length: last }, (_, k) => 2_000 - last + 1 + k),
  );
  assert.equal(out.lines.length, 2_000, 'stdout got every line as well');
});

test('rotation loses no line: with a large keep, the retained files hold every line written', (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'users.log');
  const out = logNumbered(file, 3_000, 8_192, 100);
  const files = retained(dir, 'users.log');
  assert.ok(files.length > 10 && files.length <= 101, `${files.length} files`);
  const lines = linesOf(files);
  assert.equal(lines.length, 3_000);
  assert.deepEqual(lines, out.lines, 'the file holds exactly what stdout got, in the same order');
});

test('a line longer than the limit is written whole, in a file of its own', (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'big.log');
  const file = new RotatingFile({ path, maxBytes: 100, keep: 2 });
  file.write(`${JSON.stringify({ n: 1 })}\n`);
  const big = `${JSON.stringify({ n: 2, text: 'y'.repeat(500) })}\n`;
  file.write(big);
  file.write(`${JSON.stringify({ n: 3 })}\n`);
  file.end();
  assert.equal(readFileSync(`${path}.2`, 'utf8'), '{"n":1}\n');
  assert.equal(readFileSync(`${path}.1`, 'utf8'), big);
  assert.equal(readFileSync(path, 'utf8'), '{"n":3}\n');
});

test('lines of one event-loop turn reach the file together at the end of the turn, rotation still line by line', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'batch.log');
  const file = new RotatingFile({ path, maxBytes: 24, keep: 3 });
  // Eight bytes a line: three fill a file exactly.
  for (let i = 0; i < 7; i++) file.write(`{"i":${i}}\n`);
  assert.equal(readFileSync(path, 'utf8'), '', 'nothing written yet within the turn');
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(readFileSync(`${path}.2`, 'utf8'), '{"i":0}\n{"i":1}\n{"i":2}\n');
  assert.equal(readFileSync(`${path}.1`, 'utf8'), '{"i":3}\n{"i":4}\n{"i":5}\n');
  assert.equal(readFileSync(path, 'utf8'), '{"i":6}\n');
  file.end();
});

test('keep 0: the file starts over when full, nothing else is kept', (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'solo.log');
  const file = new RotatingFile({ path, maxBytes: 20, keep: 0 });
  for (let i = 0; i < 10; i++) file.write(`{"i":${i}}\n`);
  file.end();
  assert.deepEqual(readdirSync(dir), ['solo.log']);
  assert.equal(readFileSync(path, 'utf8'), '{"i":8}\n{"i":9}\n');
});

test('an existing file is appended to, its size counted toward the limit', (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'again.log');
  const first = new RotatingFile({ path, maxBytes: 30, keep: 1 });
  first.write('{"run":1,"n":1}\n');
  first.end();
  const second = new RotatingFile({ path, maxBytes: 30, keep: 1 });
  second.write('{"run":2,"n":1}\n');
  second.end();
  assert.equal(readFileSync(`${path}.1`, 'utf8'), '{"run":1,"n":1}\n');
  assert.equal(readFileSync(path, 'utf8'), '{"run":2,"n":1}\n');
});

test('a file that cannot be written does not throw: the error is reported once and logging goes on', (t) => {
  const dir = tempDir(t);
  const errors: unknown[] = [];
  const file = new RotatingFile({ path: join(dir, 'x.log'), maxBytes: 1_000, keep: 1, onError: (err) => errors.push(err) });
  rmSync(dir, { recursive: true, force: true });
  file.end();
  // The directory is gone: reopening fails at every flush, reported once.
  assert.doesNotThrow(() => file.write('{"a":1}\n'));
  assert.doesNotThrow(() => file.flushSync());
  assert.doesNotThrow(() => file.write('{"a":2}\n'));
  assert.doesNotThrow(() => file.flushSync());
  assert.equal(errors.length, 1);
});

test('each line carries the pino level label and the spec severity, ISO time, the service', () => {
  const out = captureLogs();
  const { logger } = createLogger({ service: 'quotes', level: 'debug', stream: out.stream });
  logger.debug('d');
  logger.info('i');
  logger.warn('w');
  logger.error('e');
  logger.fatal('f');
  assert.deepEqual(
    out.entries().map((e) => [e.level, e.severity, e.service]),
    [
      ['debug', 'DEBUG', 'quotes'],
      ['info', 'INFO', 'quotes'],
      ['warn', 'WARNING', 'quotes'],
      ['error', 'ERROR', 'quotes'],
      ['fatal', 'CRITICAL', 'quotes'],
    ],
  );
  for (const entry of out.entries()) assert.match(String(entry.time), /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
  assert.deepEqual(Object.values(SEVERITY).sort(), ['CRITICAL', 'DEBUG', 'DEBUG', 'ERROR', 'INFO', 'WARNING']);
});

test('LOG_LEVEL=WARNING (pino warn) drops info lines', () => {
  const out = captureLogs();
  const { logger } = createLogger({ service: 's', level: 'warn', stream: out.stream });
  logger.info('quiet');
  logger.warn('loud');
  assert.deepEqual(
    out.entries().map((e) => e.msg),
    ['loud'],
  );
});

test('secrets are redacted wherever a handler puts them', () => {
  const out = captureLogs();
  const { logger } = createLogger({ service: 's', level: 'info', stream: out.stream });
  logger.info(
    {
      password: 'p1',
      token: 't1',
      adminKeys: ['k1'],
      headers: { authorization: 'a1', cookie: 'c1' },
      req: { headers: { authorization: 'a2' } },
      body: { password: 'p2' },
      user: { token: 't2', password: 'p3' },
    },
    'probe',
  );
  const text = out.lines.join('\n');
  for (const secret of ['p1', 't1', 'k1', 'a1', 'c1', 'a2', 'p2', 't2', 'p3']) assert.ok(!text.includes(`"${secret}"`), secret);
});

const pathCases: ReadonlyArray<[string, string]> = [
  ['/quotes/1', '/quotes/1'],
  ['/search?keyword=secret&limit=2', '/search'],
  ['/users/me?token=abc', '/users/me'],
  ['/?', '/'],
];
for (const [url, expected] of pathCases) {
  test(`pathOnly(${url}) → ${expected}`, () => assert.equal(pathOnly(url), expected));
}
