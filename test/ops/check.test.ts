import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { checkDisk, checkLogs, diskItem, type Filesystem } from '../../src/ops/check/index.ts';

const GIB = 1_073_741_824;
const fs = (holds: string[], path: string, freeGib: number, totalGib: number): Filesystem => ({
  holds,
  path,
  free_bytes: freeGib * GIB,
  total_bytes: totalGib * GIB,
});

describe('haddock check: disk space is measured where the data lives', () => {
  let dir: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'haddock-check-'));
  });
  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  for (const { name, filesystems, status, fullest } of [
    {
      name: 'a roomy backup volume and a nearly full log volume → fail, from the log volume',
      filesystems: [fs(['backups'], '/backups', 500, 1000), fs(['logs'], '/logs', 3, 100)],
      status: 'fail',
      fullest: '/logs',
    },
    {
      name: 'a backup volume at 10 % free → warn, whatever the log volume',
      filesystems: [fs(['backups'], '/backups', 10, 100), fs(['logs'], '/logs', 90, 100)],
      status: 'warn',
      fullest: '/backups',
    },
    {
      name: 'one filesystem holding both, half free → pass',
      filesystems: [fs(['backups', 'logs'], '/var/lib/haddock', 50, 100)],
      status: 'pass',
      fullest: '/var/lib/haddock',
    },
  ]) {
    test(name, () => {
      const item = diskItem(filesystems);
      assert.equal(item.status, status);
      const worst = filesystems.find((f) => f.path === fullest);
      assert.equal(item.data?.free_bytes, worst?.free_bytes, 'the headline figures are those of the fullest');
      for (const f of filesystems) assert.match(item.detail, new RegExp(`${f.holds.join(' and ')}: .* at ${f.path}`));
    });
  }

  test('checkDisk measures the backup and log folders (a folder not created yet at its parent), not the repository', async () => {
    const logs = join(dir, 'log');
    await mkdir(logs);
    const backups = join(dir, 'not-yet', 'backups');
    const item = await checkDisk({ backups, logs });
    const measured = item.data?.filesystems as Filesystem[];
    assert.equal(measured.length, 1, 'both folders sit on the same filesystem: measured once');
    assert.deepEqual(measured[0]?.holds, ['backups', 'logs']);
    assert.equal(measured[0]?.path, dir, 'the missing backup folder is measured at its nearest existing parent');
    assert.ok(Number(measured[0]?.total_bytes) > 0);
    assert.match(item.detail, new RegExp(`backups and logs: .* at ${dir}`));
  });
});

describe('haddock check: the log item where the services log to stdout', () => {
  let dir: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'haddock-check-logs-'));
  });
  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('no log directory (Kubernetes) → pass, saying logs go to stdout; nothing is read', async () => {
    let counted = false;
    const item = await checkLogs(join(dir, 'absent'), async () => {
      counted = true;
      return {};
    });
    assert.equal(item.status, 'pass');
    assert.match(item.detail, /no log directory at .*absent: the services log to stdout/);
    assert.equal(counted, false);
  });

  test('a log directory with error lines → warn with the counts', async () => {
    const item = await checkLogs(dir, async () => ({ quotes: 2, users: 0 }));
    assert.equal(item.status, 'warn');
    assert.equal(item.data?.quotes, 2);
    assert.match(item.detail, /quotes 2/);
  });
});
