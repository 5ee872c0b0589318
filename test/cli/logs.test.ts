import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { appendFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { printLogEntry } from '../../src/cli/print.ts';
import { AppError } from '../../src/lib/errors/index.ts';
import { createLogger } from '../../src/lib/logging/index.ts';
import { applyLogRetention, followLogs, type LogEntry, listLogFiles, parseSince, readLogs } from '../../src/ops/logs/index.ts';
import { captureLogs } from '../helpers/metrics.ts';

const run = promisify(execFile);

interface Line {
  time: string;
  service: string;
  level: string;
  severity: string;
  msg: string;
  [key: string]: unknown;
}

const SEVERITY: Record<string, string> = { debug: 'DEBUG', info: 'INFO', warn: 'WARNING', error: 'ERROR', fatal: 'CRITICAL' };

function line(service: string, time: string, level: string, msg: string, extra: Record<string, unknown> = {}): string {
  const record: Line = { level, severity: SEVERITY[level] as string, time, service, msg, ...extra };
  return JSON.stringify(record);
}

function write(path: string, lines: readonly string[]): void {
  writeFileSync(path, lines.map((l) => `${l}\n`).join(''));
}

/** A rotated file as the log writer leaves it: gzip-compressed. */
function writeGz(path: string, lines: readonly string[]): void {
  writeFileSync(path, gzipSync(lines.map((l) => `${l}\n`).join('')));
}

const usageError = (err: unknown) => err instanceof AppError && err.code === 'USAGE_INVALID';

/**
 * A log directory as the platform leaves it: users rotated twice (compressed),
 * quotes once by the earlier numbered scheme, a gateway log, Redis's own
 * (non-JSON) log, a rotation history file and a crash output file.
 */
function craftedDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'haddock-logs-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeGz(join(dir, 'users.log.20261126T091500000Z-001.gz'), [
    line('users', '2026-11-26T09:00:00.000Z', 'info', 'seed data loaded'),
    line('users', '2026-11-26T09:10:00.000Z', 'info', 'login succeeded', { reqId: 'r-1' }),
  ]);
  writeGz(join(dir, 'users.log.20261126T093500000Z-001.gz'), [
    line('users', '2026-11-26T09:20:00.000Z', 'warn', 'redis connection lost'),
    'TypeError: not JSON, a stray crash line',
    line('users', '2026-11-26T09:30:00.000Z', 'info', 'request completed', {
      reqId: 'r-2',
      method: 'POST',
      route: '/users/login',
      status: 401,
      duration_ms: 52.1,
    }),
  ]);
  write(join(dir, 'users.log'), [
    line('users', '2026-11-26T09:40:00.000Z', 'error', 'request failed', { reqId: 'r-3', err: { message: 'Redis down' } }),
    line('users', '2026-11-26T09:50:00.000Z', 'debug', 'probe'),
  ]);
  write(join(dir, 'quotes.log.1'), [line('quotes', '2026-11-26T09:05:00.000Z', 'info', 'seed data loaded')]);
  write(join(dir, 'quotes.log'), [
    line('quotes', '2026-11-26T09:35:00.000Z', 'fatal', 'out of memory'),
    line('quotes', '2026-11-26T09:45:00.000Z', 'info', 'quote added', { reqId: 'r-3', quoteId: 416 }),
  ]);
  write(join(dir, 'gateway.log'), [line('gateway', '2026-11-26T09:15:00.000Z', 'info', 'Mille sabords in the gateway')]);
  writeFileSync(join(dir, 'redis.log'), '1234:M 26 Nov 2026 09:00:00.000 * Ready to accept connections tcp\n');
  writeFileSync(join(dir, 'quotes.out'), '{"not":"read, .out files are crash output"}\n');
  writeFileSync(join(dir, '.users.log.rotated'), `${join(dir, 'users.log.20261126T091500000Z-001.gz')}\n`);
  return dir;
}

const msgs = (entries: readonly LogEntry[]) => entries.map((e) => `${e.service}:${e.msg}`);

test('every service, compressed rotated files included, oldest first across files and services; non-JSON lines skipped', async (t) => {
  const dir = craftedDir(t);
  assert.deepEqual(msgs(await readLogs({ dir })), [
    'users:seed data loaded',
    'quotes:seed data loaded',
    'users:login succeeded',
    'gateway:Mille sabords in the gateway',
    'users:redis connection lost',
    'users:request completed',
    'quotes:out of memory',
    'users:request failed',
    'quotes:quote added',
    'users:probe',
  ]);
});

test('listLogFiles orders each service oldest first: numbered files (highest first), then by rotation time, then x.log', async (t) => {
  const dir = craftedDir(t);
  writeFileSync(join(dir, 'users.log.10'), '');
  writeFileSync(join(dir, 'users.log.2.gz'), gzipSync(''));
  writeGz(join(dir, 'users.log.20261126T093500000Z-002.gz'), []);
  const users = (await listLogFiles(dir)).find((g) => g.service === 'users');
  assert.deepEqual(
    users?.rotated.map((p) => p.slice(dir.length + 1)),
    [
      'users.log.10',
      'users.log.2.gz',
      'users.log.20261126T091500000Z-001.gz',
      'users.log.20261126T093500000Z-001.gz',
      'users.log.20261126T093500000Z-002.gz',
    ],
  );
  assert.equal(users?.live, join(dir, 'users.log'));
});

test('--service keeps only the services named', async (t) => {
  const dir = craftedDir(t);
  const entries = await readLogs({ dir, services: ['quotes', 'gateway'] });
  assert.deepEqual(msgs(entries), [
    'quotes:seed data loaded',
    'gateway:Mille sabords in the gateway',
    'quotes:out of memory',
    'quotes:quote added',
  ]);
});

test('--level WARNING keeps WARNING and above; pino names work too', async (t) => {
  const dir = craftedDir(t);
  const expected = ['users:redis connection lost', 'quotes:out of memory', 'users:request failed'];
  assert.deepEqual(msgs(await readLogs({ dir, level: 'WARNING' })), expected);
  assert.deepEqual(msgs(await readLogs({ dir, level: 'warn' })), expected);
  assert.deepEqual(msgs(await readLogs({ dir, level: 'CRITICAL' })), ['quotes:out of memory']);
  await assert.rejects(readLogs({ dir, level: 'LOUD' }), usageError);
});

test('--since: a duration back from now, or an ISO date', async (t) => {
  const dir = craftedDir(t);
  const now = new Date('2026-11-26T10:00:00.000Z');
  assert.deepEqual(msgs(await readLogs({ dir, since: '15m', now })), ['quotes:quote added', 'users:probe']);
  assert.deepEqual(msgs(await readLogs({ dir, since: '1h', now })).length, 10);
  assert.deepEqual(msgs(await readLogs({ dir, since: '2026-11-26T09:40:00Z' })), [
    'users:request failed',
    'quotes:quote added',
    'users:probe',
  ]);
  assert.equal(parseSince('30s', now).toISOString(), '2026-11-26T09:59:30.000Z');
  assert.equal(parseSince('2d', now).toISOString(), '2026-11-24T10:00:00.000Z');
  for (const bad of ['yesterday', '10 minutes', '5w', '']) {
    assert.throws(() => parseSince(bad, now), usageError, bad);
  }
});

test('--request-id follows one request across services', async (t) => {
  const dir = craftedDir(t);
  assert.deepEqual(msgs(await readLogs({ dir, requestId: 'r-3' })), ['users:request failed', 'quotes:quote added']);
});

test('--grep is case-insensitive, on the message and the whole line', async (t) => {
  const dir = craftedDir(t);
  assert.deepEqual(msgs(await readLogs({ dir, grep: 'MILLE' })), ['gateway:Mille sabords in the gateway']);
  assert.deepEqual(msgs(await readLogs({ dir, grep: 'redis down' })), ['users:request failed'], 'found in err.message');
  assert.deepEqual(msgs(await readLogs({ dir, grep: '/users/login' })), ['users:request completed']);
});

test('--lines N keeps the last N after filtering; 0 prints nothing; filters combine', async (t) => {
  const dir = craftedDir(t);
  assert.deepEqual(msgs(await readLogs({ dir, lines: 2 })), ['quotes:quote added', 'users:probe']);
  assert.deepEqual(msgs(await readLogs({ dir, lines: 0 })), []);
  assert.deepEqual(msgs(await readLogs({ dir, services: ['users'], level: 'INFO', lines: 2 })), [
    'users:request completed',
    'users:request failed',
  ]);
});

test('a missing directory is a clear error', async () => {
  await assert.rejects(
    readLogs({ dir: join(tmpdir(), 'haddock-no-such-dir-0') }),
    (err: unknown) => err instanceof AppError && err.code === 'LOG_DIR_NOT_FOUND' && /no log directory/.test(err.detail ?? ''),
  );
});

test('the pretty line has time, service, severity, message, route, status, duration and request id', async (t) => {
  const dir = craftedDir(t);
  const [entry] = await readLogs({ dir, requestId: 'r-2' });
  assert.ok(entry);
  assert.equal(
    printLogEntry(entry),
    '2026-11-26T09:30:00.000Z  users     INFO      request completed  POST /users/login  401  52.1ms  req=r-2',
  );
  const [failed] = await readLogs({ dir, grep: 'request failed' });
  assert.ok(failed);
  assert.match(printLogEntry(failed), /ERROR +request failed {2}err="Redis down" {2}req=r-3$/);
});

test('--follow prints the history, then new lines, across a rotation, and picks up a new service', async (t) => {
  const dir = craftedDir(t);
  const stop = new AbortController();
  t.after(() => stop.abort());
  const seen: string[] = [];
  const iterator = followLogs({ dir, lines: 2 }, { signal: stop.signal, pollMs: 20 });
  const next = async (what: string): Promise<string> => {
    const result = await Promise.race([
      iterator.next(),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`no line for ${what} within 3 s`)), 3_000)),
    ]);
    assert.equal(result.done, false);
    const text = `${result.value.service}:${result.value.msg}`;
    seen.push(text);
    return text;
  };
  assert.equal(await next('history 1'), 'quotes:quote added');
  assert.equal(await next('history 2'), 'users:probe');

  appendFileSync(join(dir, 'quotes.log'), `${line('quotes', '2026-11-26T10:00:01.000Z', 'info', 'appended')}\n`);
  assert.equal(await next('an appended line'), 'quotes:appended');

  // Rotation as the log writer does it: a last line in the old file, compressed to a new name, unlinked, then a new file.
  const live = join(dir, 'quotes.log');
  appendFileSync(live, `${line('quotes', '2026-11-26T10:00:02.000Z', 'info', 'last before rotation')}\n`);
  writeFileSync(join(dir, 'quotes.log.20261126T100002500Z-001.gz'), gzipSync(readFileSync(live)));
  unlinkSync(live);
  write(live, [line('quotes', '2026-11-26T10:00:03.000Z', 'info', 'first after rotation')]);
  assert.equal(await next('the old file drained'), 'quotes:last before rotation');
  assert.equal(await next('the new file'), 'quotes:first after rotation');

  write(join(dir, 'search.log'), [line('search', '2026-11-26T10:00:04.000Z', 'info', 'search started')]);
  assert.equal(await next('a new service'), 'search:search started');

  appendFileSync(join(dir, 'users.log'), 'a partial line without its newline');
  appendFileSync(join(dir, 'users.log'), `${line('users', '2026-11-26T10:00:05.000Z', 'warn', 'x')}\n`.slice(0, 20));
  appendFileSync(join(dir, 'users.log'), `\n${line('users', '2026-11-26T10:00:06.000Z', 'info', 'whole again')}\n`);
  assert.equal(await next('a line after a broken one'), 'users:whole again');

  stop.abort();
  const end = await iterator.next();
  assert.equal(end.done, true);
  assert.equal(new Set(seen).size, seen.length, 'no line printed twice');
});

/** A real logger writing `count` numbered lines to `dir/quotes.log`, rotating every `maxBytes`. */
function numberedLogger(dir: string, maxBytes: number) {
  const out = captureLogs();
  const logger = createLogger({
    service: 'quotes',
    level: 'info',
    stream: out.stream,
    file: { path: join(dir, 'quotes.log'), maxBytes, keep: 1_000 },
  });
  return { ...logger, out };
}

const numbers = (entries: readonly LogEntry[]) => entries.map((e) => e.record.i);

test('a real rotating log: every line comes back once, in order, from the compressed rotated files and the active one', {
  timeout: 30_000,
}, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'haddock-logs-rotated-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const { logger, close } = numberedLogger(dir, 4_096);
  for (let i = 1; i <= 1_500; i++) logger.info({ i, filler: 'y'.repeat(i % 50) }, 'numbered');
  await close();
  const compressed = readdirSync(dir).filter((name) => /^quotes\.log\.\d{8}T\d{9}Z-\d{3}\.gz$/.test(name));
  assert.ok(compressed.length > 10, `rotated into ${compressed.length} .gz files`);
  const expected = Array.from({ length: 1_500 }, (_, k) => k + 1);
  assert.deepEqual(numbers(await readLogs({ dir, lines: Number.POSITIVE_INFINITY })), expected);
  const cli = await run(process.execPath, ['bin/haddock.mjs', 'logs', '--dir', dir, '--json', '--lines', '100000'], {
    maxBuffer: 16 * 1024 * 1024,
  });
  const printed = cli.stdout
    .trim()
    .split('\n')
    .map((l) => (JSON.parse(l) as { i: number }).i);
  assert.deepEqual(printed, expected, '`haddock logs` prints every line, in order');
});

test('a compressed file still being written (a rotation in progress) is left out: its lines are still in the active file', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'haddock-logs-partial-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const lines = Array.from({ length: 200 }, (_, k) =>
    line('quotes', `2026-11-26T09:00:${String(k % 60).padStart(2, '0')}.000Z`, 'info', `m${k}`),
  );
  write(join(dir, 'quotes.log'), lines);
  const whole = gzipSync(`${lines.join('\n')}\n`);
  writeFileSync(join(dir, 'quotes.log.20261126T090100000Z-001.gz'), whole.subarray(0, Math.floor(whole.length / 2)));
  const entries = await readLogs({ dir, lines: Number.POSITIVE_INFINITY });
  assert.equal(entries.length, 200, 'each line once');
});

test('--follow keeps every line, once and in order, while a real logger rotates its file', { timeout: 30_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'haddock-logs-follow-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const { logger, close } = numberedLogger(dir, 1_024);
  t.after(() => close());
  logger.info({ i: 0 }, 'numbered');
  while (readdirSync(dir).length === 0 || readFileSync(join(dir, 'quotes.log'), 'utf8') === '') {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  const stop = new AbortController();
  t.after(() => stop.abort());
  const seen: unknown[] = [];
  let ready: () => void = () => undefined;
  const started = new Promise<void>((resolve) => {
    ready = resolve;
  });
  const following = (async () => {
    // The history (line 0) comes once the active file is open: what is written next is followed.
    for await (const entry of followLogs({ dir, lines: 1 }, { signal: stop.signal, pollMs: 15 })) {
      seen.push(entry.record.i);
      if (seen.length === 1) ready();
      if (seen.length === 201) stop.abort();
    }
  })();
  await started;
  // Five lines (~600 bytes) at a time: at most one rotation between two polls.
  for (let i = 1; i <= 200; i++) {
    logger.info({ i }, 'numbered');
    if (i % 5 === 0) await new Promise((resolve) => setTimeout(resolve, 60));
  }
  const timeout = setTimeout(() => stop.abort(), 10_000);
  await following;
  clearTimeout(timeout);
  const rotations = readdirSync(dir).filter((name) => name.endsWith('.gz')).length;
  assert.ok(rotations >= 10, `${rotations} rotations while following`);
  assert.deepEqual(
    seen,
    Array.from({ length: 201 }, (_, k) => k),
  );
});

test('`haddock clean` retention: only rotated files older than the retention go, whatever their names; active files never', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'haddock-logs-retention-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const now = new Date('2026-11-26T12:00:00.000Z');
  const daysAgo = (days: number) => new Date(now.getTime() - days * 86_400_000);
  const files: [string, number][] = [
    ['quotes.log.20261020T010000000Z-001.gz', 37],
    ['quotes.log.20261110T010000000Z-001.gz', 16],
    ['users.log.20261025T010000000Z-003.gz', 31],
    ['users.log.4', 45], // the earlier numbered scheme
    ['users.log.2.gz', 29],
    ['users.log', 90], // active, however old
    ['quotes.out', 90], // crash output of the runner, not a rotated log
    ['.users.log.rotated', 90], // the writer's rotation history
  ];
  for (const [name, age] of files) {
    writeFileSync(join(dir, name), 'x\n');
    utimesSync(join(dir, name), daysAgo(age), daysAgo(age));
  }
  const expected = ['quotes.log.20261020T010000000Z-001.gz', 'users.log.20261025T010000000Z-003.gz', 'users.log.4'];
  assert.deepEqual(await applyLogRetention(dir, 30, true, now), expected, 'dry run lists');
  assert.equal(readdirSync(dir).length, files.length, 'dry run removes nothing');
  assert.deepEqual(await applyLogRetention(dir, 30, false, now), expected);
  assert.deepEqual(
    readdirSync(dir).sort(),
    files
      .map(([name]) => name)
      .filter((name) => !expected.includes(name))
      .sort(),
  );
  assert.deepEqual(await applyLogRetention(join(dir, 'missing'), 30, false, now), [], 'no directory, nothing to clean');
});

test('`haddock logs` prints raw JSON with --json and pretty lines otherwise', { timeout: 30_000 }, async (t) => {
  const dir = craftedDir(t);
  const json = await run(process.execPath, ['bin/haddock.mjs', 'logs', '--dir', dir, '--service', 'quotes', '--json']);
  const lines = json.stdout.trim().split('\n');
  assert.deepEqual(
    lines.map((l) => (JSON.parse(l) as Line).msg),
    ['seed data loaded', 'out of memory', 'quote added'],
  );
  const pretty = await run(process.execPath, ['bin/haddock.mjs', 'logs', '--dir', dir, '--level', 'ERROR'], {
    env: { ...process.env, NO_COLOR: '1' },
  });
  assert.deepEqual(
    pretty.stdout
      .trim()
      .split('\n')
      .map((l) => l.split(/\s{2,}/).slice(1, 4)),
    [
      ['quotes', 'CRITICAL', 'out of memory'],
      ['users', 'ERROR', 'request failed'],
    ],
  );
  await assert.rejects(
    run(process.execPath, ['bin/haddock.mjs', 'logs', '--dir', dir, '--since', 'soon']),
    (err: { code?: number; stderr?: string }) => {
      assert.equal(err.code, 2);
      assert.match(err.stderr ?? '', /--since must be a duration/);
      return true;
    },
  );
  const help = await run(process.execPath, ['bin/haddock.mjs', 'logs', '--help']);
  assert.match(help.stdout, /Examples:/);
});
