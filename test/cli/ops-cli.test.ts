import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { appendFile, mkdir, mkdtemp, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Redis } from 'ioredis';
import { EnvReader, readRedisConfig, readRedisKeyPrefix } from '../../src/lib/config/index.ts';
import { type BackupManifest, lockBackups, type PrunePlan, type RestoreReport } from '../../src/ops/backup/index.ts';
import type { CheckItem } from '../../src/ops/check/index.ts';
import { readOpsConfig } from '../../src/ops/config.ts';
import { type Incident, incidentKeys } from '../../src/ops/incidents/index.ts';
import type { KpiRow } from '../../src/ops/kpi/index.ts';
import type { Scorecard } from '../../src/ops/kpi/scorecard.ts';
import { quotesApp, SEED_QUOTE_COUNT, usersApp } from '../helpers/apps.ts';
import { connectRedis, type PrivateRedis, startPrivateRedis } from '../helpers/redis.ts';

const ROOT = new URL('../..', import.meta.url).pathname;
const PREFIX = 'haddock:';
const QUOTES = `${PREFIX}quotes`;

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

/** One JSON log line as the services write them. */
function logLine(service: string, time: Date, level: string, severity: string, msg: string, extra: object = {}): string {
  return `${JSON.stringify({ level, severity, time: time.toISOString(), service, msg, ...extra })}\n`;
}

describe('haddock operations commands, run as a child process against a seeded Redis', () => {
  let redis: PrivateRedis;
  let client: Redis;
  let backupDir: string;
  let varDir: string;
  let logDir: string;
  let env: NodeJS.ProcessEnv;
  let alertmanagerUrl: string;

  /** Runs `node bin/haddock.mjs …` with stdin a pipe (not a terminal), killed if it takes longer than `timeoutMs`. */
  function haddock(args: readonly string[], options: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<Run> {
    const timeoutMs = options.timeoutMs ?? 60_000;
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, ['bin/haddock.mjs', ...args], {
        cwd: ROOT,
        env: options.env ?? env,
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
        stdout += chunk;
      });
      child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
        stderr += chunk;
      });
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`haddock ${args.join(' ')} did not finish within ${timeoutMs} ms; stderr: ${stderr}`));
      }, timeoutMs);
      child.once('error', reject);
      child.once('close', (code) => {
        clearTimeout(timer);
        resolve({ code, stdout, stderr });
      });
      child.stdin.end();
    });
  }

  /** Runs a command that must succeed and parses its `--json` output. */
  async function json<T>(args: readonly string[]): Promise<T> {
    const run = await haddock(args);
    assert.equal(run.code, 0, `haddock ${args.join(' ')} exited ${run.code}: ${run.stderr}`);
    return JSON.parse(run.stdout) as T;
  }

  function assertExit(run: Run, code: number, stderr: RegExp): void {
    assert.equal(run.code, code, `expected exit ${code}, got ${run.code}; stdout: ${run.stdout}; stderr: ${run.stderr}`);
    assert.match(run.stderr, stderr);
  }

  before(async () => {
    redis = await startPrivateRedis();
    // Seed through the real services, as the platform does on first start.
    const users = await usersApp({ prefix: PREFIX, redisUrl: redis.url });
    const quotes = await quotesApp({ prefix: PREFIX, redisUrl: redis.url });
    await Promise.all([users.close(), quotes.close()]);
    client = connectRedis(redis.url);
    await client.connect();
    assert.equal(await client.hlen(QUOTES), SEED_QUOTE_COUNT, 'seeded');
    backupDir = await mkdtemp(join(tmpdir(), 'haddock-cli-backups-'));
    varDir = await mkdtemp(join(tmpdir(), 'haddock-cli-var-'));
    logDir = join(varDir, 'log');
    await mkdir(logDir);
    alertmanagerUrl = `http://127.0.0.1:${await closedPort()}`;
    env = {
      ...process.env,
      REDIS_URL: redis.url,
      REDIS_KEY_PREFIX: PREFIX,
      BACKUP_DIR: backupDir,
      HADDOCK_VAR_DIR: varDir,
      HADDOCK_URL: `http://127.0.0.1:${await closedPort()}`,
      PROMETHEUS_URL: `http://127.0.0.1:${await closedPort()}`,
      ALERTMANAGER_URL: alertmanagerUrl,
      NO_COLOR: '1',
    };
    delete env.LOG_DIR;
  });

  after(async () => {
    client?.disconnect();
    await redis?.stop();
    if (backupDir) await rm(backupDir, { recursive: true, force: true });
    if (varDir) await rm(varDir, { recursive: true, force: true });
  });

  let backupId = '';

  test('backup --json → a manifest of the platform keys whose restore drill passed; listed; verify passes', {
    timeout: 120_000,
  }, async () => {
    const manifest = await json<BackupManifest>(['backup', '--json']);
    assert.match(manifest.id, /^redis-\d{8}T\d{9}Z-[0-9a-f]{6}$/);
    assert.ok(manifest.keys.total > 0, 'keys counted');
    assert.equal(manifest.keys.by_type.hash, 3, 'quotes, users and the name index');
    assert.equal(manifest.verification?.ok, true, `drill: ${manifest.verification?.problems.join('; ')}`);
    assert.ok(existsSync(join(backupDir, manifest.file)), 'the RDB file is in BACKUP_DIR');
    backupId = manifest.id;

    const listed = await json<BackupManifest[]>(['backups', 'list', '--json']);
    assert.deepEqual(
      listed.map((m) => m.id),
      [backupId],
    );
    const alone = await haddock(['backups']);
    assert.equal(alone.code, 0, alone.stderr);
    assert.match(alone.stdout, new RegExp(backupId));

    const verify = await haddock(['verify', backupId]);
    assert.equal(verify.code, 0, verify.stderr);
    assert.match(verify.stdout, /drill\s+passed/);
  });

  test('restore <id> --yes --json puts deleted quotes back, after a safety backup', { timeout: 120_000 }, async () => {
    assert.ok(backupId, 'needs the backup of the previous test');
    await client.hdel(QUOTES, '1', '2', '3', '48', '415');
    assert.equal(await client.hlen(QUOTES), SEED_QUOTE_COUNT - 5);
    const versionBefore = BigInt((await client.get(`${PREFIX}quotes:generation`)) ?? '0');

    const report = await json<RestoreReport>(['restore', backupId, '--yes', '--json']);
    assert.equal(report.restored, backupId);
    const versionAfter = BigInt((await client.get(`${PREFIX}quotes:generation`)) ?? '0');
    assert.ok(
      versionAfter > versionBefore,
      'the restore moved the catalogue generation forward: the services rebuild their index',
    );
    assert.ok(report.changed >= 1, `the quotes hash changed back: ${JSON.stringify(report)}`);
    assert.equal(await client.hlen(QUOTES), SEED_QUOTE_COUNT, 'every quote is back');
    assert.match(report.safety_backup, /-pre-restore$/);
    const listed = await json<BackupManifest[]>(['backups', '--json']);
    assert.ok(
      listed.some((m) => m.id === report.safety_backup && m.kind === 'pre-restore'),
      'the safety backup is listed',
    );
  });

  test('restore without --yes when stdin is not a terminal → exit 2, nothing touched', { timeout: 60_000 }, async () => {
    const before = await json<BackupManifest[]>(['backups', '--json']);
    await client.hdel(QUOTES, '7');
    try {
      const run = await haddock(['restore', backupId]);
      assertExit(run, 2, /refusing to restore without --yes when not interactive/);
      assert.equal(await client.hlen(QUOTES), SEED_QUOTE_COUNT - 1, 'no restore happened');
      assert.equal((await json<BackupManifest[]>(['backups', '--json'])).length, before.length, 'no safety backup taken');
    } finally {
      await json<RestoreReport>(['restore', backupId, '--yes', '--json']);
    }
    assert.equal(await client.hlen(QUOTES), SEED_QUOTE_COUNT);
  });

  test('a damaged backup file: verify → exit 1 after printing the result; restore refuses it', { timeout: 120_000 }, async () => {
    const [manifest] = (await json<BackupManifest[]>(['backups', '--json'])).filter((m) => m.id === backupId);
    assert.ok(manifest);
    const path = join(backupDir, manifest.file);
    const bytes = await readFile(path);
    for (let i = 100; i < 200; i++) bytes[i] = (bytes[i] ?? 0) ^ 0xff;
    await writeFile(path, bytes);

    const verify = await haddock(['verify', backupId]);
    assertExit(verify, 1, new RegExp(`backup ${backupId} failed its restore drill`));
    assert.match(verify.stdout, /FAILED/);
    assert.match(verify.stdout, /SHA-256 differs/);
    const asJson = await haddock(['verify', backupId, '--json']);
    assert.equal(asJson.code, 1);
    assert.equal((JSON.parse(asJson.stdout) as BackupManifest).verification?.ok, false);

    const nine = await client.hget(QUOTES, '9');
    assert.ok(nine);
    await client.hdel(QUOTES, '9');
    const restore = await haddock(['restore', backupId, '--yes']);
    assertExit(restore, 1, /refusing to restore .*SHA-256 differs/);
    assert.equal(await client.hlen(QUOTES), SEED_QUOTE_COUNT - 1, 'the live data was not touched');
    await client.hset(QUOTES, '9', nine);
  });

  test('prune --dry-run --json removes nothing while under the retention policy', { timeout: 60_000 }, async () => {
    const listed = await json<BackupManifest[]>(['backups', '--json']);
    assert.ok(listed.length >= 2);
    const plan = await json<PrunePlan>(['prune', '--dry-run', '--json']);
    assert.deepEqual(plan.remove, []);
    assert.deepEqual(
      plan.keep.map((m) => m.id),
      listed.map((m) => m.id),
    );
    for (const m of listed) assert.ok(existsSync(join(backupDir, m.file)), `${m.file} still there`);
  });

  test('backup, restore and prune while another one holds the backup lock → exit 1 at once, saying so; nothing written', {
    timeout: 60_000,
  }, async () => {
    const reader = new EnvReader({ REDIS_URL: redis.url, REDIS_KEY_PREFIX: PREFIX, BACKUP_DIR: backupDir });
    const config = readOpsConfig(reader, {
      redis: readRedisConfig(reader, { url: redis.url }),
      redisKeyPrefix: readRedisKeyPrefix(reader),
    });
    const before = (await json<BackupManifest[]>(['backups', 'list', '--json'])).length;
    await lockBackups(config, 'backup', async () => {
      const [backup, restore, prune] = await Promise.all([
        haddock(['backup']),
        haddock(['restore', backupId, '--yes']),
        haddock(['prune']),
      ]);
      for (const run of [backup, restore, prune]) assertExit(run, 1, /another backup, restore or prune is running/);
    });
    assert.equal((await json<BackupManifest[]>(['backups', 'list', '--json'])).length, before);
  });

  test('an unknown backup id → exit 1 with a clear message', { timeout: 60_000 }, async () => {
    assertExit(await haddock(['verify', 'redis-19990101T000000Z']), 1, /no backup named redis-19990101T000000Z/);
    assertExit(await haddock(['restore', 'redis-19990101T000000Z', '--yes']), 1, /no backup named redis-19990101T000000Z/);
  });

  test('backup with Redis unreachable → exit 1 saying where it looked', { timeout: 60_000 }, async () => {
    const url = `redis://127.0.0.1:${await closedPort()}`;
    const run = await haddock(['backup'], { env: { ...env, REDIS_URL: url } });
    assertExit(run, 1, /Redis is not reachable at 127\.0\.0\.1:\d+/);
  });

  let incidentId = '';

  test('incident new, ack, note, resolve; show --json has the timeline in order; list filters', { timeout: 60_000 }, async () => {
    const opened = await json<Incident>(['incident', 'new', '--title', 'Citations lentes', '--service', 'quotes', '--json']);
    assert.equal(opened.id, `INC-${new Date().getUTCFullYear()}-001`);
    assert.equal(opened.status, 'open');
    assert.equal(opened.severity, 'warning');
    assert.equal(opened.source, 'manual');
    incidentId = opened.id;

    const acked = await json<Incident>(['incident', 'ack', incidentId, '--by', 'alice', '--json']);
    assert.equal(acked.status, 'acknowledged');
    assert.equal(acked.acknowledged_by, 'alice');
    const noted = await haddock(['incident', 'note', incidentId, 'Redis', 'saturé,', 'maxmemory', 'atteint', '--by', 'alice']);
    assert.equal(noted.code, 0, noted.stderr);
    assert.match(noted.stdout, /note\s+Redis saturé, maxmemory atteint/);
    const resolved = await json<Incident>(['incident', 'resolve', incidentId, '--text', 'maxmemory relevé', '--json']);
    assert.equal(resolved.status, 'resolved');

    const shown = await json<Incident>(['incident', 'show', incidentId, '--json']);
    assert.deepEqual(
      shown.timeline.map((e) => e.kind),
      ['opened', 'acknowledged', 'note', 'resolved'],
    );
    assert.equal(shown.timeline[3]?.text, 'maxmemory relevé');

    const resolvedList = await json<Incident[]>(['incident', 'list', '--status', 'resolved', '--json']);
    assert.deepEqual(
      resolvedList.map((i) => i.id),
      [incidentId],
    );
    assert.deepEqual(await json<Incident[]>(['incident', 'list', '--status', 'open', '--json']), []);
    assert.deepEqual(await json<Incident[]>(['incident', 'list', '--service', 'users', '--json']), []);
    const table = await haddock(['incident', 'list']);
    assert.match(table.stdout, new RegExp(`${incidentId}\\s+resolved\\s+warning\\s+quotes`));
  });

  test('incident report in French and English, with the WARNING+ log lines of its window', { timeout: 60_000 }, async () => {
    assert.ok(incidentId, 'needs the incident of the previous test');
    const incident = await json<Incident>(['incident', 'show', incidentId, '--json']);
    const opened = new Date(incident.opened_at);
    const inside = new Date(opened.getTime() + 1);
    await appendFile(
      join(logDir, 'quotes.log'),
      [
        logLine('quotes', inside, 'error', 'ERROR', 'redis command timed out', { route: '/quotes/:id', status: 500 }),
        logLine('quotes', inside, 'warn', 'WARNING', 'slow redis reply'),
        logLine('quotes', inside, 'info', 'INFO', 'request completed', { route: '/quotes', status: 200 }),
        logLine('quotes', new Date(opened.getTime() - 2 * 3_600_000), 'error', 'ERROR', 'an error long before'),
      ].join(''),
    );
    await appendFile(join(logDir, 'users.log'), logLine('users', inside, 'error', 'ERROR', 'another service failing'));

    const fr = await haddock(['incident', 'report', incidentId, '--lang', 'fr']);
    assert.equal(fr.code, 0, fr.stderr);
    assert.match(fr.stdout, new RegExp(`^# Rapport d'incident - ${incidentId}`));
    assert.match(fr.stdout, /Service affecté\*\* : quotes/);
    const clock = inside.toISOString().slice(11, 19);
    assert.ok(
      fr.stdout.includes(`${clock} quotes ERROR redis command timed out (/quotes/:id 500)`),
      `the error line is attached:\n${fr.stdout}`,
    );
    assert.ok(fr.stdout.includes(`${clock} quotes WARNING slow redis reply`), 'the warning line is attached');
    assert.ok(!fr.stdout.includes('request completed'), 'INFO lines are left out');
    assert.ok(!fr.stdout.includes('an error long before'), 'lines outside the window are left out');
    assert.ok(!fr.stdout.includes('another service failing'), "other services' lines are left out");
    assert.ok(
      fr.stdout.indexOf('redis command timed out') < fr.stdout.indexOf('slow redis reply'),
      'file order kept for equal times',
    );
    assert.match(fr.stdout, /Prometheus injoignable/);

    const en = await haddock(['incident', 'report', incidentId, '--lang', 'en']);
    assert.equal(en.code, 0, en.stderr);
    assert.match(en.stdout, new RegExp(`^# Incident report - ${incidentId}`));
    assert.match(en.stdout, /Affected service\*\* : quotes/);
    assert.ok(en.stdout.includes('quotes ERROR redis command timed out (/quotes/:id 500)'));

    const file = join(varDir, 'report.md');
    const written = await haddock(['incident', 'report', incidentId, '--output', file]);
    assert.equal(written.code, 0, written.stderr);
    assert.match(written.stdout, /written to/);
    assert.equal(await readFile(file, 'utf8'), fr.stdout);
  });

  test('incidents: an unknown id → exit 1; a bad severity → exit 2', { timeout: 60_000 }, async () => {
    for (const args of [
      ['incident', 'show', 'INC-1999-999'],
      ['incident', 'ack', 'INC-1999-999'],
      ['incident', 'report', 'INC-1999-999'],
    ]) {
      assertExit(await haddock(args), 1, /no incident INC-1999-999/);
    }
    const bad = await haddock(['incident', 'new', '--title', 'x', '--service', 'quotes', '--severity', 'apocalyptic']);
    assertExit(bad, 2, /apocalyptic/);
    assertExit(await haddock(['incident', 'new', '--service', 'quotes']), 2, /--title/);
  });

  test('kpi --json: Prometheus rows unknown, MTTA/MTTR from the incident, proactive 0%, fresh backup', {
    timeout: 60_000,
  }, async () => {
    assert.ok(incidentId, 'needs the incident of the previous tests');
    // Make the incident last long enough to tell minutes apart: opened 37 minutes earlier.
    const keys = incidentKeys(PREFIX);
    const stored = JSON.parse((await client.hget(keys.incidents, incidentId)) ?? '{}') as Incident;
    const openedAt = new Date(Date.parse(stored.opened_at) - 37 * 60_000).toISOString();
    await client.hset(
      keys.incidents,
      incidentId,
      JSON.stringify({
        ...stored,
        opened_at: openedAt,
        timeline: stored.timeline.map((e) => (e.kind === 'opened' ? { ...e, at: openedAt } : e)),
      }),
    );
    const incident = await json<Incident>(['incident', 'show', incidentId, '--json']);
    const minutes = (from: string, to: string | undefined) => (Date.parse(to ?? '') - Date.parse(from)) / 60_000;
    const mttr = Math.round(minutes(incident.opened_at, incident.resolved_at) * 10) / 10;
    const mtta = Math.round(minutes(incident.opened_at, incident.acknowledged_at) * 10) / 10;
    assert.ok(mttr >= 37, `backdated: ${mttr}`);

    const card = await json<Scorecard>(['kpi', '--json']);
    assert.equal(card.window, '24h');
    const row = (key: string): KpiRow => {
      const found = card.rows.find((r) => r.key === key);
      assert.ok(found, `row ${key} in ${card.rows.map((r) => r.key).join(', ')}`);
      return found;
    };
    assert.equal(row('availability').status, 'unknown');
    assert.equal(row('availability').value, null);
    assert.equal(row('mttr').value, mttr);
    assert.equal(row('mttr').status, 'amber', '37 minutes: past the 30-minute target, within the amber band');
    assert.equal(row('mtta').value, mtta);
    assert.equal(row('proactive_detection').value, 0, 'one manual incident');
    assert.equal(row('backup_freshness').status, 'green');

    const markdown = await haddock(['kpi', '--markdown']);
    assert.equal(markdown.code, 0, markdown.stderr);
    assert.match(markdown.stdout, /^\| Indicator \| Target \| Measured \| Status \|$/m);
    assert.match(markdown.stdout, /^\|---\|---\|---\|---\|$/m);
    assert.match(markdown.stdout, new RegExp(`^\\| Mean time to recovery \\(MTTR\\) \\| < 30 min \\| ${mttr} min \\|`, 'm'));
    const human = await haddock(['kpi', '--since', '7d']);
    assert.equal(human.code, 0, human.stderr);
    assert.match(human.stdout, /^KPIs over 7d/);

    assertExit(await haddock(['kpi', '--since', 'nonsense']), 2, /window must look like/);
    assertExit(await haddock(['kpi', '--json', '--markdown']), 2, /cannot be used with/);
  });

  test('check --json --no-audit with no gateway → exit 1; Redis, disk, memory measured; error lines counted', {
    timeout: 60_000,
  }, async () => {
    const recent = new Date(Date.now() - 10 * 60_000);
    await writeFile(
      join(logDir, 'search.log'),
      [
        logLine('search', recent, 'error', 'ERROR', 'search index unavailable'),
        logLine('search', recent, 'error', 'ERROR', 'search index unavailable'),
        logLine('search', recent, 'warn', 'WARNING', 'slow search'),
        logLine('search', recent, 'fatal', 'CRITICAL', 'out of memory'),
        logLine('search', recent, 'error', 'ERROR', 'redis down'),
        logLine('search', new Date(Date.now() - 2 * 86_400_000), 'error', 'ERROR', 'two days ago'),
      ].join(''),
    );
    const run = await haddock(['check', '--json', '--no-audit']);
    assertExit(run, 1, /maintenance check failed: .*services healthy/);
    const report = JSON.parse(run.stdout) as { ok: boolean; items: CheckItem[] };
    assert.equal(report.ok, false);
    const item = (name: string): CheckItem => {
      const found = report.items.find((i) => i.name === name);
      assert.ok(found, `item ${name} in ${report.items.map((i) => i.name).join(', ')}`);
      return found;
    };
    assert.equal(item('services healthy').status, 'fail');
    assert.equal(item('redis reachable').status, 'pass');
    assert.ok(Number(item('redis reachable').data?.connected_clients) >= 1, 'connected clients reported');
    assert.equal(typeof item('disk space').data?.free_bytes, 'number');
    assert.ok(Number(item('disk space').data?.total_bytes) > 0);
    const measured = (item('disk space').data?.filesystems ?? []) as { holds: string[] }[];
    assert.deepEqual(measured.flatMap((f) => f.holds).sort(), ['backups', 'logs'], 'the backup and log folders are measured');
    assert.ok(Number(item('host memory').data?.total_bytes) > 0);
    const logs = item('error lines in logs (24 h)');
    assert.equal(logs.status, 'warn');
    assert.equal(logs.data?.search, 4, 'three ERROR and one CRITICAL in the last 24 h; the WARNING and the old line not counted');
    assert.match(logs.detail, /search 4/);
    assert.ok(!report.items.some((i) => i.name.startsWith('dependency')), '--no-audit skips npm audit');

    const human = await haddock(['check', '--no-audit']);
    assert.equal(human.code, 1);
    assert.match(human.stdout, /services healthy\s+FAIL/);
    assert.match(human.stdout, /maintenance check FAILED/);
  });

  test('check with LOG_DIR set to a missing directory → its log item fails, naming LOG_DIR', { timeout: 60_000 }, async () => {
    const run = await haddock(['check', '--json', '--no-audit'], { env: { ...env, LOG_DIR: join(varDir, 'no-such-log-dir') } });
    const report = JSON.parse(run.stdout) as { items: CheckItem[]; counts: Record<string, number> };
    const logs = report.items.find((i) => i.name === 'error lines in logs (24 h)');
    assert.equal(logs?.status, 'fail', JSON.stringify(logs));
    assert.match(logs?.detail ?? '', /LOG_DIR is .*no-such-log-dir, which is not a directory/);
    assertExit(run, 1, /maintenance check failed: .*error lines in logs/);
    assert.equal(report.counts.skip, 0, 'a LOG_DIR that was set is never skipped');
  });

  test('clean --dry-run lists and deletes nothing; clean deletes an old rotated log and keeps a fresh one', {
    timeout: 60_000,
  }, async () => {
    const old = join(logDir, 'quotes.log.3');
    const fresh = join(logDir, 'users.log.1');
    await writeFile(old, '');
    await writeFile(fresh, '');
    const fortyDaysAgo = new Date(Date.now() - 40 * 86_400_000);
    await utimes(old, fortyDaysAgo, fortyDaysAgo);
    const backupsBefore = await json<BackupManifest[]>(['backups', '--json']);

    const dry = await json<{
      dry_run: boolean;
      log_files_removed: string[];
      backups_removed: string[];
      incidents_removed: string[];
    }>(['clean', '--dry-run', '--json']);
    assert.equal(dry.dry_run, true);
    assert.deepEqual(dry.log_files_removed, ['quotes.log.3']);
    assert.deepEqual(dry.backups_removed, []);
    assert.deepEqual(dry.incidents_removed, [], 'the incident was resolved today');
    assert.ok(existsSync(old), 'a dry run deletes nothing');

    const done = await json<{ dry_run: boolean; log_files_removed: string[] }>(['clean', '--json']);
    assert.equal(done.dry_run, false);
    assert.deepEqual(done.log_files_removed, ['quotes.log.3']);
    assert.ok(!existsSync(old), 'the old rotated file is gone');
    assert.ok(existsSync(fresh), 'the fresh rotated file is kept');
    assert.ok(existsSync(join(logDir, 'quotes.log')), 'live files are never touched');
    assert.equal((await json<BackupManifest[]>(['backups', '--json'])).length, backupsBefore.length);
    assert.equal((await json<Incident[]>(['incident', 'list', '--json'])).length, 1);
  });

  test('maintenance start and alert test with Alertmanager unreachable → exit 1 naming it; a bad duration → exit 2', {
    timeout: 60_000,
  }, async () => {
    const start = await haddock(['maintenance', 'start', '--for', '30m', '--reason', 'x']);
    assertExit(start, 1, new RegExp(`Alertmanager is not reachable at ${alertmanagerUrl.replace(/\./g, '\\.')}`));
    assert.deepEqual(await json<unknown[]>(['maintenance', 'list', '--json']), [], 'no window recorded without its silence');
    assertExit(await haddock(['alert', 'test']), 1, /Alertmanager is not reachable/);
    assertExit(await haddock(['maintenance', 'start', '--for', '99h', '--reason', 'x']), 2, /between 1 minute and 24 hours/);
    assertExit(await haddock(['maintenance', 'start', '--for', 'soon', '--reason', 'x']), 2, /duration must look like/);
    assertExit(await haddock(['maintenance', 'start', '--for', '30m']), 2, /--reason/);
    assertExit(await haddock(['maintenance', 'stop', 'nope']), 1, /no maintenance window nope/);
  });

  test('a bad variable → exit 2 listing it', { timeout: 60_000 }, async () => {
    const run = await haddock(['backups'], { env: { ...env, REDIS_URL: 'ftp://nowhere' } });
    assertExit(run, 2, /invalid configuration:\n {2}- REDIS_URL must use redis: or rediss:/);
    const logs = await haddock(['logs', '--dir', logDir, '--lines', '1'], { env: { ...env, REDIS_URL: 'ftp://nowhere' } });
    assert.equal(logs.code, 0, `commands that do not read the configuration still work: ${logs.stderr}`);
  });

  test('--help of every command exits 0 and shows Examples', { timeout: 120_000 }, async () => {
    const commands = [
      [],
      ['health'],
      ['logs'],
      ['backup'],
      ['verify'],
      ['restore'],
      ['backups'],
      ['backups', 'list'],
      ['prune'],
      ['incident'],
      ['incident', 'new'],
      ['incident', 'list'],
      ['incident', 'show'],
      ['incident', 'ack'],
      ['incident', 'note'],
      ['incident', 'resolve'],
      ['incident', 'report'],
      ['kpi'],
      ['check'],
      ['clean'],
      ['maintenance'],
      ['maintenance', 'start'],
      ['maintenance', 'stop'],
      ['maintenance', 'list'],
      ['alert'],
      ['alert', 'test'],
    ];
    const runs = await Promise.all(commands.map((args) => haddock([...args, '--help'])));
    runs.forEach((run, i) => {
      const name = ['haddock', ...(commands[i] ?? [])].join(' ');
      assert.equal(run.code, 0, `${name} --help exited ${run.code}: ${run.stderr}`);
      assert.match(run.stdout, new RegExp(`Usage: ${name}`));
      assert.match(run.stdout, /Examples:\n {2}\$ haddock/, `${name} --help has examples`);
    });
  });
});
