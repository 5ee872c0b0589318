import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { createLogger, openLogFile, parseLogFileName, pathOnly, rotatedLogName, SEVERITY } from '../../src/lib/logging/index.ts';
import { captureLogs } from '../helpers/metrics.ts';

function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'haddock-logging-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** The rotated files of `base` (oldest first, by their names), then the active file. */
function retained(dir: string, base: string): string[] {
  const rotated = readdirSync(dir)
    .filter((name) => parseLogFileName(name)?.service === base.replace(/\.log$/, '') && parseLogFileName(name)?.rotated)
    .sort((a, b) => ((parseLogFileName(a)?.order ?? '') < (parseLogFileName(b)?.order ?? '') ? -1 : 1));
  return [...rotated, base].map((name) => join(dir, name));
}

function contentOf(file: string): string {
  const data = readFileSync(file);
  return file.endsWith('.gz') ? gunzipSync(data).toString('utf8') : data.toString('utf8');
}

function linesOf(files: readonly string[]): string[] {
  return files.flatMap((file) =>
    contentOf(file)
      .split('\n')
      .filter((l) => l.length > 0),
  );
}

/** Logs `n` numbered lines through a real pino logger writing to stdout (captured) and a rotating file, then closes it. */
async function logNumbered(file: string, n: number, maxBytes: number, keep: number) {
  const out = captureLogs();
  const { logger, close } = createLogger({
    service: 'rot',
    level: 'info',
    stream: out.stream,
    file: { path: file, maxBytes, keep },
  });
  for (let i = 1; i <= n; i++) logger.info({ i, filler: 'x'.repeat(i % 40) }, 'numbered line');
  await close();
  return out;
}

test('rotated names sort in time order and are recognised; the active file and stray files are told apart', () => {
  const first = rotatedLogName('/var/log/quotes.log', new Date('2026-11-26T09:30:00.123Z'), 1);
  const second = rotatedLogName('/var/log/quotes.log', new Date('2026-11-26T10:00:00.000Z'), 2);
  assert.equal(first, '/var/log/quotes.log.20261126T093000123Z-001.gz');
  const names = ['quotes.log', 'quotes.log.20261126T100000000Z-002.gz', 'quotes.log.20261126T093000123Z-001.gz'];
  assert.ok(second.endsWith(names[1] as string));
  assert.deepEqual(parseLogFileName('quotes.log'), { service: 'quotes', rotated: false, compressed: false, order: '' });
  assert.deepEqual(parseLogFileName('quotes.log.20261126T093000123Z-001.gz'), {
    service: 'quotes',
    rotated: true,
    compressed: true,
    order: '120261126T093000123Z-001',
  });
  // The earlier numbered scheme: x.log.10 is older than x.log.2, and both older than any timestamped file.
  const orders = ['quotes.log.2', 'quotes.log.10.gz', 'quotes.log.20261126T093000123Z-001.gz'].map(
    (name) => parseLogFileName(name)?.order ?? '',
  );
  assert.deepEqual([...orders].sort(), [orders[1], orders[0], orders[2]]);
  for (const stray of ['quotes.out', 'alerts.jsonl', '.quotes.log.rotated', 'quotes.log.txt', 'notes.md']) {
    assert.equal(parseLogFileName(stray), undefined, stray);
  }
});

test('rotation: gzip-compressed rotated files, at most keep of them, each about the size limit, the newest lines kept in order', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'quotes.log');
  const out = await logNumbered(file, 2_000, 4_096, 3);
  const files = retained(dir, 'quotes.log');
  assert.equal(files.length, 4, readdirSync(dir).join(', '));
  for (const f of files.slice(0, -1)) {
    assert.match(f, /quotes\.log\.\d{8}T\d{9}Z-\d{3}\.gz$/);
    assert.deepEqual([...readFileSync(f).subarray(0, 2)], [0x1f, 0x8b], `${f} is gzip`);
    // The stream rotates once a write takes the file to the limit: at most one line past it.
    const size = Buffer.byteLength(contentOf(f));
    assert.ok(size >= 4_096 && size < 4_096 + 200, `${f} holds ${size} bytes`);
  }
  const numbers = linesOf(files).map((line) => (JSON.parse(line) as { i: number }).i);
  // The retained lines are exactly the last ones written, none missing, none repeated, in order.
  const last = numbers.length;
  assert.deepEqual(
    numbers,
    Array.from({ length: last }, (_, k) => 2_000 - last + 1 + k),
  );
  assert.equal(out.lines.length, 2_000, 'stdout got every line as well');
});

test('rotation loses no line: with a large keep, the retained files hold every line written, in order', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'users.log');
  const out = await logNumbered(file, 3_000, 8_192, 100);
  const files = retained(dir, 'users.log');
  assert.ok(files.length > 10 && files.length <= 101, `${files.length} files`);
  assert.deepEqual(linesOf(files), out.lines, 'the files hold exactly what stdout got, in the same order');
});

test('keep 0: rotated files are not kept, the active file holds the newest lines', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'solo.log');
  const out = await logNumbered(file, 300, 2_048, 0);
  assert.deepEqual(readdirSync(dir), ['solo.log']);
  const lines = linesOf([file]);
  assert.ok(lines.length > 0 && lines.length < 300);
  assert.deepEqual(lines, out.lines.slice(-lines.length));
});

test('an existing file is appended to, its size counted toward the limit', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'again.log');
  writeFileSync(path, '{"run":1,"n":1}\n');
  const first = openLogFile({ path, maxBytes: 30, keep: 2 });
  first.stream.write('{"run":2,"n":1}\n');
  await first.close();
  const files = retained(dir, 'again.log');
  assert.equal(files.length, 2, 'the second line took the file past 30 bytes: rotated');
  assert.equal(contentOf(files[0] as string), '{"run":1,"n":1}\n{"run":2,"n":1}\n');
  assert.equal(readFileSync(path, 'utf8'), '');
});

test('close writes what is queued and closes the file; a line logged afterwards goes to stdout only', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'closing.log');
  const out = captureLogs();
  const { logger, close } = createLogger({
    service: 's',
    level: 'info',
    stream: out.stream,
    file: { path, maxBytes: 1_048_576, keep: 1 },
  });
  for (let i = 0; i < 500; i++) logger.info({ i }, 'queued');
  await close();
  assert.equal(linesOf([path]).length, 500, 'every queued line reached the file before close resolved');
  const openFiles = readdirSync('/proc/self/fd').map((fd) => {
    try {
      return readlinkSync(join('/proc/self/fd', fd));
    } catch {
      return '';
    }
  });
  assert.ok(!openFiles.includes(path), 'no descriptor of this process points at the log file any more');
  assert.doesNotThrow(() => logger.info('after close'));
  await close();
  assert.equal(out.lines.length, 501);
  assert.equal(linesOf([path]).length, 500);
});

test('a file that cannot be written does not throw: the error is reported once and logging goes on to stdout', async (t) => {
  const dir = tempDir(t);
  // A regular file where the log directory should be: no one, root included, can create the log there.
  writeFileSync(join(dir, 'not-a-dir'), '');
  const errors: Error[] = [];
  const file = openLogFile({ path: join(dir, 'not-a-dir', 'x.log'), maxBytes: 1_000, keep: 1 }, (err) => errors.push(err));
  const out = captureLogs();
  const { logger } = createLogger({ service: 's', level: 'info', stream: out.stream });
  assert.doesNotThrow(() => file.stream.write('{"a":1}\n'));
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.doesNotThrow(() => file.stream.write('{"a":2}\n'));
  await file.close();
  assert.equal(errors.length, 1, errors.map((e) => e.message).join('; '));
  logger.info('still logging');
  assert.equal(out.lines.length, 1);
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
