import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmod, chown, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import type { CheckReport } from '../../src/cli/commands/check.ts';
import { freePorts } from '../../src/lib/net/index.ts';
import type { BackupManifest } from '../../src/ops/backup/index.ts';
import type { Incident } from '../../src/ops/incidents/index.ts';
import type { Scorecard } from '../../src/ops/kpi/scorecard.ts';
import { buildGateway } from '../../src/platform/gateway/app.ts';
import { loadConfig as loadGatewayConfig } from '../../src/platform/gateway/config.ts';
import { ADMIN_KEY, quotesApp, searchApp, usersApp } from '../helpers/apps.ts';
import { cleanPrefix, requireRedis, testRedisUrl, uniquePrefix } from '../helpers/redis.ts';

/**
 * The operations commands as `docker compose exec ops haddock …` runs them: no checkout around the CLI's working
 * directory (an empty, read-only one), no HADDOCK_VAR_DIR, no LOG_DIR, every address from the environment. Run as
 * root (as here), the CLI runs as `nobody` so that the read-only directory really refuses writes, as the image's
 * non-root user would see it.
 */
const MAIN = new URL('../../src/cli/main.ts', import.meta.url).pathname;
/** tsx's loader by its own address: `--import tsx` would look for it from the empty working directory. */
const TSX = import.meta.resolve('tsx');
const NOBODY = 65_534;
const asRoot = process.getuid?.() === 0;

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

describe('haddock without a checkout: the ops container’s environment, a read-only empty working directory', () => {
  const prefix = uniquePrefix('no-checkout');
  let cwd: string;
  let backupDir: string;
  let env: NodeJS.ProcessEnv;
  const apps: FastifyInstance[] = [];

  function haddock(args: readonly string[], extra: NodeJS.ProcessEnv = {}): Promise<Run> {
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, ['--import', TSX, MAIN, ...args], {
        cwd,
        env: { ...env, ...extra },
        stdio: ['ignore', 'pipe', 'pipe'],
        ...(asRoot ? { uid: NOBODY, gid: NOBODY } : {}),
      });
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
        stdout += chunk;
      });
      child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
        stderr += chunk;
      });
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      child.once('error', reject);
      child.once('close', (code) => {
        clearTimeout(timer);
        resolve({ code, stdout, stderr });
      });
    });
  }

  function ok(run: Run, what: string): Run {
    assert.equal(run.code, 0, `${what} exited ${run.code}; stdout: ${run.stdout}; stderr: ${run.stderr}`);
    return run;
  }

  async function assertCwdEmpty(after: string): Promise<void> {
    assert.deepEqual(await readdir(cwd), [], `nothing written to the working directory by ${after}`);
  }

  before(async () => {
    await requireRedis();
    const redisUrl = testRedisUrl();
    const built = [
      await usersApp({ prefix, redisUrl }),
      await quotesApp({ prefix, redisUrl }),
      await searchApp({ prefix, redisUrl }),
    ];
    apps.push(...built);
    const [usersPort, quotesPort, searchPort, gatewayPort, prometheusPort, alertmanagerPort] = await freePorts(6);
    const [users, quotes, search] = [usersPort, quotesPort, searchPort].map((port) => `http://127.0.0.1:${port}`);
    await Promise.all(built.map((app, i) => app.listen({ host: '127.0.0.1', port: [usersPort, quotesPort, searchPort][i] })));
    const gateway = await buildGateway(
      loadGatewayConfig({ USERS_URL: users, QUOTES_URL: quotes, SEARCH_URL: search, RATE_LIMIT_PER_MINUTE: '0' }),
      { logger: false, openapi: { openapi: '3.0.3', info: { title: 't', version: '1' }, paths: {} } },
    );
    apps.push(gateway);
    await gateway.listen({ host: '127.0.0.1', port: gatewayPort });

    cwd = await mkdtemp(join(tmpdir(), 'haddock-no-checkout-cwd-'));
    await chmod(cwd, 0o555);
    backupDir = await mkdtemp(join(tmpdir(), 'haddock-no-checkout-backups-'));
    if (asRoot) await chown(backupDir, NOBODY, NOBODY);
    // The ops container's environment, and nothing of the test runner's (no HADDOCK_VAR_DIR, no LOG_DIR).
    env = {
      PATH: process.env.PATH,
      HOME: '/nonexistent',
      NO_COLOR: '1',
      REDIS_URL: redisUrl,
      REDIS_KEY_PREFIX: prefix,
      USERS_URL: users,
      QUOTES_URL: quotes,
      SEARCH_URL: search,
      HADDOCK_URL: `http://127.0.0.1:${gatewayPort}`,
      // Nothing listens there: Prometheus and Alertmanager down.
      PROMETHEUS_URL: `http://127.0.0.1:${prometheusPort}`,
      ALERTMANAGER_URL: `http://127.0.0.1:${alertmanagerPort}`,
      BACKUP_DIR: backupDir,
      ADMIN_KEY,
    };
  });

  after(async () => {
    await Promise.all(apps.map((app) => app.close()));
    await cleanPrefix(testRedisUrl(), prefix);
    if (cwd) {
      await chmod(cwd, 0o755);
      await rm(cwd, { recursive: true, force: true });
    }
    if (backupDir) await rm(backupDir, { recursive: true, force: true });
  });

  test('health, logs, incidents and an unwritable BACKUP_DIR; then backup, listing, check, kpi and clean', {
    timeout: 60_000,
  }, async () => {
    const [health, logs, opened, unwritable] = await Promise.all([
      haddock(['health']),
      haddock(['logs', '--lines', '5']),
      haddock(['incident', 'new', '--title', 'Citations lentes', '--service', 'quotes', '--by', 'alice', '--json']),
      haddock(['backup'], { BACKUP_DIR: join(cwd, 'backups') }),
    ]);

    ok(health, 'health');
    for (const service of ['users', 'quotes', 'search', 'gateway']) {
      assert.match(health.stdout, new RegExp(`^${service}\\s+healthy\\s+200`, 'm'), `${service} asked at its URL`);
    }

    assert.equal(logs.code, 1, `logs without a log directory: ${logs.stdout}${logs.stderr}`);
    assert.match(logs.stderr, /^haddock: no log directory: LOG_DIR is not set and .* does not exist/);
    assert.match(logs.stderr, /docker compose logs <service>` or `kubectl logs <pod>`/);

    const incident = JSON.parse(ok(opened, 'incident new').stdout) as Incident;
    assert.match(incident.id, /^INC-\d{4}-\d{3}$/);

    assert.equal(unwritable.code, 1, `backup into the read-only directory: ${unwritable.stderr}`);
    assert.match(unwritable.stderr, /the backup folder .*\/backups is not writable \(\w+\): set BACKUP_DIR/);
    await assertCwdEmpty('health, logs, incident new and the refused backup');

    const manifest = JSON.parse(ok(await haddock(['backup', '--json']), 'backup').stdout) as BackupManifest;
    assert.equal(manifest.verification?.ok, true, `drill: ${manifest.verification?.problems.join('; ')}`);
    assert.deepEqual(
      (await readdir(backupDir)).sort(),
      [`${manifest.id}.json`, manifest.file].sort(),
      'the backup and its manifest, and nothing else (the drill’s scratch folder removed)',
    );
    await assertCwdEmpty('backup');

    const [list, check, checkHuman, kpi, kpiHuman, incidents, clean] = await Promise.all([
      haddock(['backups', 'list']),
      haddock(['check', '--no-audit', '--json']),
      haddock(['check', '--no-audit']),
      haddock(['kpi', '--since', '1h', '--json']),
      haddock(['kpi', '--since', '1h']),
      haddock(['incident', 'list', '--json']),
      haddock(['clean', '--dry-run']),
    ]);

    assert.match(ok(list, 'backups list').stdout, new RegExp(`^${manifest.id}\\s+manual\\s`, 'm'));

    // The log item is not applicable, neither a pass nor a failure; the exit status is that of the other items.
    const report = JSON.parse(check.stdout) as CheckReport;
    const item = (name: string) => report.items.find((i) => i.name === name) ?? assert.fail(`no item ${name}`);
    assert.equal(item('error lines in logs (24 h)').status, 'skip');
    assert.equal(item('error lines in logs (24 h)').detail.split(';')[0], 'not applicable: services log to stdout (no LOG_DIR)');
    for (const name of [
      'services healthy',
      'gateway up',
      'redis reachable',
      'last successful backup',
      'last passed restore drill',
    ]) {
      assert.equal(item(name).status, 'pass', `${name}: ${item(name).detail}`);
    }
    const measured = (item('disk space').data?.filesystems ?? []) as { holds: string[] }[];
    assert.deepEqual(
      measured.flatMap((f) => f.holds),
      ['backups'],
      'no log folder measured where there is none',
    );
    assert.equal(report.counts.skip, 1);
    assert.equal(report.counts.pass + report.counts.warn + report.counts.fail + report.counts.skip, report.items.length);
    // Disk and memory are the host's: whatever they say decides, as it would in the container.
    const failed = report.items.filter((i) => i.status === 'fail');
    assert.equal(check.code, failed.length === 0 ? 0 : 1, `check: ${JSON.stringify(failed)} ${check.stderr}`);
    assert.equal(report.ok, failed.length === 0);
    assert.match(
      checkHuman.stdout,
      /^error lines in logs \(24 h\)\s+skip\s+not applicable: services log to stdout \(no LOG_DIR\)/m,
    );
    assert.match(checkHuman.stdout, /maintenance check (passed|FAILED): \d+ passed, \d+ warning\(s\), \d+ failed, 1 skipped/);
    assert.equal(checkHuman.code, check.code);

    // Prometheus down: its KPIs unknown and saying so; those from the incidents and the backups still measured.
    const card = JSON.parse(ok(kpi, 'kpi --json').stdout) as Scorecard;
    const prometheusRows = card.rows.filter((r) => r.source === 'prometheus');
    assert.ok(prometheusRows.length > 0);
    for (const row of prometheusRows) {
      assert.equal(row.status, 'unknown');
      assert.equal(row.display, 'Prometheus unreachable');
    }
    const backupRow = card.rows.find((r) => r.name === 'Last successful backup');
    assert.equal(backupRow?.status, 'green', JSON.stringify(backupRow));
    assert.ok(
      card.rows.some((r) => r.source === 'incidents'),
      'the incident KPIs are there',
    );
    assert.match(
      ok(kpiHuman, 'kpi').stdout,
      new RegExp(`^Prometheus unreachable: PROMETHEUS_URL ${env.PROMETHEUS_URL}: .*ECONNREFUSED`, 'm'),
      'the address asked, and why it did not answer',
    );
    assert.match(kpiHuman.stdout, /^Last successful backup\s+.*\s+0 h ago\s+green$/m);

    const listed = JSON.parse(ok(incidents, 'incident list').stdout) as Incident[];
    assert.deepEqual(
      listed.map((i) => [i.id, i.title, i.opened_by]),
      [[incident.id, 'Citations lentes', 'alice']],
    );

    assert.match(ok(clean, 'clean --dry-run').stdout, /^log retention skipped: no log directory \(no LOG_DIR\)/m);
    await assertCwdEmpty('backups list, check, kpi, incident list and clean');
  });

  test('logs reads LOG_DIR when it is set (a mounted log volume); a LOG_DIR that does not exist is named', {
    timeout: 30_000,
  }, async () => {
    const logDir = await mkdtemp(join(tmpdir(), 'haddock-no-checkout-log-'));
    try {
      const line = { level: 'error', severity: 'ERROR', time: new Date().toISOString(), service: 'quotes', msg: 'redis down' };
      await writeFile(join(logDir, 'quotes.log'), `${JSON.stringify(line)}\n`);
      await chmod(logDir, 0o755);
      await chmod(join(logDir, 'quotes.log'), 0o644);
      const [read, missing] = await Promise.all([
        haddock(['logs', '--json'], { LOG_DIR: logDir }),
        haddock(['logs'], { LOG_DIR: join(logDir, 'absent') }),
      ]);
      assert.deepEqual(JSON.parse(ok(read, 'logs with LOG_DIR').stdout), line);
      assert.equal(missing.code, 1);
      assert.match(missing.stderr, /^haddock: LOG_DIR is .*absent, which is not a directory: fix LOG_DIR/);
      await assertCwdEmpty('logs');
    } finally {
      await rm(logDir, { recursive: true, force: true });
    }
  });
});
