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

test('startProgress redraws one line in place on a terminal and erases it when stopped', () => {
  const stream = fakeStream(true);
  const display = startProgress(stream, true);
  assert.ok(display.onProgress);
  display.onProgress('download', 0, 1000);
  display.onProgress('download', 10, 1000); // within the same tick: not redrawn
  display.onProgress('download', 1000, 1000); // complete: always drawn
  display.onProgress('drill', 0, null); // a new stage: always drawn
  display.stop();
  display.stop();
  display.onProgress('restore', 1, 2); // after stop: ignored
  assert.equal(stream.writes.length, 4, stream.writes.join(' | '));
  for (const w of stream.writes)
    assert.ok(w.startsWith('\r\u001b[2K'), 'each write returns to the start of the line and clears it');
  assert.match(stream.writes[0] ?? '', /download .* 0%/);
  assert.match(stream.writes[1] ?? '', /100%/);
  assert.match(stream.writes[2] ?? '', /drill/);
  assert.equal(stream.writes[3], '\r\u001b[2K', 'stop erases the line, once');
});
