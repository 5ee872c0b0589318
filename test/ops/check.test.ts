import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadCliConfig, loadServiceUrls } from '../../src/cli/config.ts';
import { freePorts } from '../../src/lib/net/index.ts';
import {
  type CheckItem,
  checkAudit,
  checkDisk,
  checkGateway,
  checkLogs,
  checkServices,
  countStatuses,
  diskItem,
  type Filesystem,
} from '../../src/ops/check/index.ts';
import { checkHealth, gatewayHealthUrl } from '../../src/ops/health/index.ts';

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

  test('no LOG_DIR and no default log directory (an image, logs on stdout) → skip, not applicable; nothing is read', async () => {
    let counted = false;
    const item = await checkLogs(
      join(dir, 'absent'),
      async () => {
        counted = true;
        return {};
      },
      { configured: false },
    );
    assert.equal(item.status, 'skip');
    assert.match(item.detail, /^not applicable: services log to stdout \(no LOG_DIR\)/);
    assert.match(item.detail, /docker compose logs/);
    assert.equal(counted, false);
  });

  test('LOG_DIR set to a missing directory → fail, naming it; nothing is read', async () => {
    let counted = false;
    const item = await checkLogs(
      join(dir, 'absent'),
      async () => {
        counted = true;
        return {};
      },
      { configured: true },
    );
    assert.equal(item.status, 'fail');
    assert.match(item.detail, /LOG_DIR is .*absent, which is not a directory/);
    assert.equal(counted, false);
  });

  test('a log directory with error lines → warn with the counts', async () => {
    const item = await checkLogs(dir, async () => ({ quotes: 2, users: 0 }), { configured: false });
    assert.equal(item.status, 'warn');
    assert.equal(item.data?.quotes, 2);
    assert.match(item.detail, /quotes 2/);
  });
});

describe('haddock check: items that do not apply where it runs are skipped, never passed', () => {
  test('npm audit where there is no package-lock.json (an image) → skip with the reason; npm is not run', async () => {
    const empty = await mkdtemp(join(tmpdir(), 'haddock-check-audit-'));
    try {
      const started = Date.now();
      const item = await checkAudit(empty);
      assert.equal(item.status, 'skip');
      assert.match(item.detail, /^not applicable: no package-lock\.json at /);
      assert.ok(Date.now() - started < 1_000, 'answered without running npm');
    } finally {
      await rm(empty, { recursive: true, force: true });
    }
  });

  test('npm audit where npm is not installed (the ops image carries node only) → skip with the reason', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'haddock-check-audit-'));
    try {
      await writeFile(join(dir, 'package-lock.json'), '{"lockfileVersion": 3, "packages": {}}\n');
      const item = await checkAudit(dir, { npm: join(dir, 'no-such-npm') });
      assert.equal(item.status, 'skip', item.detail);
      assert.match(item.detail, /^not applicable: no .*no-such-npm to run here/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('countStatuses counts skipped items apart from passed ones', () => {
    const item = (status: CheckItem['status']): CheckItem => ({ name: status, status, detail: '' });
    assert.deepEqual(countStatuses([item('pass'), item('skip'), item('skip'), item('warn')]), {
      pass: 1,
      warn: 1,
      fail: 0,
      skip: 2,
    });
  });
});

describe('haddock health and check: the services asked on their own URLs, the gateway a line of its own', () => {
  test('nothing listening: every service and the gateway unhealthy, each asked at its own URL, the gateway item failing', async () => {
    const [users, quotes, search, gateway] = (await freePorts(4)).map((port) => `http://127.0.0.1:${port}`) as [
      string,
      string,
      string,
      string,
    ];
    const results = await checkHealth({
      services: { users, quotes, search },
      gatewayHealthUrl: gatewayHealthUrl(gateway),
      timeoutMs: 1_000,
    });
    assert.deepEqual(
      results.map((r) => [r.service, r.url, r.healthy]),
      [
        ['users', `${users}/users/health`, false],
        ['quotes', `${quotes}/quotes/health`, false],
        ['search', `${search}/search/health`, false],
        ['gateway', `${gateway}/gateway/health`, false],
      ],
    );
    const services = await checkServices({ users, quotes, search });
    assert.equal(services.status, 'fail');
    assert.equal(services.detail, 'unhealthy: users, quotes, search');
    const item = await checkGateway(gatewayHealthUrl(gateway));
    assert.equal(item.name, 'gateway up');
    assert.equal(item.status, 'fail');
    assert.match(item.detail, new RegExp(`the gateway does not answer at ${gateway}/gateway/health`));
  });

  test('the CLI reads USERS_URL, QUOTES_URL and SEARCH_URL, by default the local runner’s ports', () => {
    assert.deepEqual(loadServiceUrls({}), {
      users: 'http://127.0.0.1:8001',
      quotes: 'http://127.0.0.1:8002',
      search: 'http://127.0.0.1:8003',
    });
    assert.deepEqual(loadServiceUrls({ QUOTES_PORT: '9102', SEARCH_URL: 'http://search.internal:80' }), {
      users: 'http://127.0.0.1:8001',
      quotes: 'http://127.0.0.1:9102',
      search: 'http://search.internal:80',
    });
    assert.throws(() => loadServiceUrls({ USERS_URL: 'ftp://x' }), /USERS_URL must use http: or https:/);
  });

  test("the gateway's liveness URL: /gateway/health under HADDOCK_URL, or GATEWAY_HEALTH_URL (Traefik's ping)", () => {
    assert.equal(loadCliConfig({}).gatewayHealthUrl, 'http://localhost:8000/gateway/health');
    assert.equal(
      loadCliConfig({ HADDOCK_URL: 'http://edge.example:81/' }).gatewayHealthUrl,
      'http://edge.example:81/gateway/health',
    );
    assert.equal(
      loadCliConfig({ HADDOCK_URL: 'http://traefik', GATEWAY_HEALTH_URL: 'http://traefik:8080/ping' }).gatewayHealthUrl,
      'http://traefik:8080/ping',
    );
    assert.throws(() => loadCliConfig({ GATEWAY_HEALTH_URL: 'ftp://x' }), /GATEWAY_HEALTH_URL must use http: or https:/);
  });
});
