import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatBytes, type ProgressStream, renderProgress, startProgress } from '../../src/cli/progress.ts';

function fakeStream(isTTY: boolean): ProgressStream & { readonly writes: string[] } {
  const writes: string[] = [];
  return {
    isTTY,
    columns: 80,
    writes,
    write(text: string) {
      writes.push(text);
      return true;
    },
  };
}

test('renderProgress: a bar for a known total, a spinner and a running count otherwise', () => {
  const cases: [string, number, number | null, number, RegExp][] = [
    ['download', 0, 2048, 0, /^download {2}\[░{24}\] {3}0% {2}0 B\/2\.0 KiB$/],
    ['download', 1024, 2048, 0, /^download {2}\[█{12}░{12}\] {2}50% {2}1\.0 KiB\/2\.0 KiB$/],
    ['download', 4096, 2048, 0, /\[█{24}\] 100%/],
    ['restore', 200, 415, 0, /^restore {3}\[█{12}░{12}\] {2}48% {2}200\/415$/],
    ['download', 3_145_728, null, 0, /^download {2}⠋ 3\.0 MiB$/],
    ['drill', 0, null, 1, /^drill {5}⠙$/],
    ['inventory', 0, null, 10, /^inventory ⠋$/],
  ];
  for (const [stage, done, total, frame, expected] of cases) {
    assert.match(renderProgress(stage, done, total, frame), expected, `${stage} ${done}/${total}`);
  }
  assert.equal(formatBytes(512), '512 B');
  assert.equal(formatBytes(5 * 1_073_741_824), '5.00 GiB');
});

test('startProgress is silent when the stream is not a terminal, or when disabled (--json)', () => {
  for (const [tty, enabled] of [
    [false, true],
    [true, false],
  ] as const) {
    const stream = fakeStream(tty);
    const display = startProgress(stream, enabled);
    assert.equal(display.onProgress, undefined, 'no callback: the operation does not even report');
    display.stop();
    assert.deepEqual(stream.writes, []);
  }
});

/** What was drawn: the text writes, without the terminal control sequences around them. */
const drawn = (writes: readonly string[]) => writes.filter((w) => !w.startsWith('\u001b'));

test('startProgress draws one line in place on a terminal, at most once a tick, the spinner turning, and erases it when stopped', (t) => {
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1_000_000 });
  const stream = fakeStream(true);
  const display = startProgress(stream, true);
  assert.ok(display.onProgress);
  display.onProgress('download', 0, 1000);
  assert.equal(drawn(stream.writes).length, 1, 'the first report is drawn at once');
  assert.match(drawn(stream.writes)[0] ?? '', /^download {2}\[░{24}\] {3}0% {2}0 B\/1000 B$/);
  const before = stream.writes.indexOf(drawn(stream.writes)[0] ?? '');
  assert.equal(stream.writes[before - 1], '\u001b[1G', 'drawn from the start of the line');
  assert.equal(stream.writes[before + 1], '\u001b[0K', 'and the rest of the line cleared');

  display.onProgress('download', 10, 1000);
  display.onProgress('download', 1000, 1000);
  assert.equal(drawn(stream.writes).length, 1, 'within the same tick: not redrawn');
  t.mock.timers.tick(100);
  assert.match(drawn(stream.writes).at(-1) ?? '', /\[█{24}\] 100% {2}1000 B\/1000 B$/, 'the next tick draws the latest figures');

  display.onProgress('drill', 0, null);
  assert.equal(drawn(stream.writes).length, 3, 'a new stage is drawn at once');
  const spinner = drawn(stream.writes).at(-1) ?? '';
  assert.match(spinner, /^drill {5}[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏]$/);
  t.mock.timers.tick(100);
  assert.equal(drawn(stream.writes).length, 4, 'the spinner turns while the stage reports nothing');
  assert.notEqual(drawn(stream.writes).at(-1), spinner);

  display.stop();
  assert.equal(stream.writes.at(-1), '\u001b[2K', 'stop erases the line');
  const count = stream.writes.length;
  display.stop();
  display.onProgress('restore', 1, 2);
  t.mock.timers.tick(1_000);
  assert.equal(stream.writes.length, count, 'nothing after stop: no second erase, no late report, no timer');
});

test('stop before any report writes nothing', () => {
  const stream = fakeStream(true);
  startProgress(stream, true).stop();
  assert.deepEqual(stream.writes, []);
});
