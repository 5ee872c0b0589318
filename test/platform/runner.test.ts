import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import {
  type ChildSpec,
  findExecutable,
  loadConfig,
  MONITORING_MISSING_NOTICE,
  monitoringRequiredMessage,
  type PlatformEvent,
  type PlatformHandle,
  REDIS_MISSING_MESSAGE,
  Supervisor,
  type SupervisorEvent,
  startPlatform,
} from '../../src/platform/runner/index.ts';
import { isGone, platformEnv, portIsFree, requireRedisServer, until } from '../helpers/platform.ts';

const REPO = new URL('../..', import.meta.url).pathname;

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' }).map((file) => join(dir, file));
}

const tempDirs: string[] = [];
function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
}

/** A PATH holding redis-server and nothing else: Prometheus and Alertmanager are "not installed". */
function pathWithRedisOnly(): string {
  const dir = tempDir('haddock-path-');
  const redis = findExecutable('redis-server', process.env.PATH);
  if (redis !== undefined) symlinkSync(redis, join(dir, 'redis-server'));
  return dir;
}

const handles: PlatformHandle[] = [];
after(async () => {
  await Promise.allSettled(handles.map((handle) => handle.stop()));
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

describe('startPlatform', () => {
  test('runs redis, the services, the gateway and the alert sink; restarts a killed child; stops everything', {
    timeout: 60_000,
  }, async () => {
    requireRedisServer();
    const varDir = tempDir('haddock-runner-');
    const config = loadConfig(await platformEnv(varDir));
    const events: PlatformEvent[] = [];
    const platform = await startPlatform(config, { onEvent: (event) => events.push(event) });
    handles.push(platform);
    const pids = platform.pids();
    for (const name of ['redis', 'users', 'quotes', 'search', 'gateway', 'alert-sink']) {
      assert.equal(typeof pids[name], 'number', `${name} has a pid`);
    }
    const sink = await fetch(`${platform.urls.alertSink}/alerts`);
    assert.equal(sink.status, 200);
    assert.deepEqual(await sink.json(), []);

    const list = await fetch(`${platform.urls.gateway}/quotes?limit=1`);
    assert.equal(list.status, 200);
    assert.match(list.headers.get('content-type') ?? '', /application\/json/);
    assert.equal(((await list.json()) as unknown[]).length, 1);

    const health = await until('GET /quotes/health via the gateway answers healthy', 15_000, async () => {
      const response = await fetch(`${platform.urls.gateway}/quotes/health`);
      const body = await response.json();
      return response.status === 200 ? body : undefined;
    });
    assert.deepEqual(health, { message: 'healthy' });
    for (const path of ['/users/health/live', '/search/health/live', '/apidocs/json']) {
      const response = await fetch(`${platform.urls.gateway}${path}`);
      assert.equal(response.status, 200, path);
      await response.arrayBuffer();
    }
    // Each service's metrics on its own METRICS_PORT, as the runner hands it out; never on its public port.
    for (const name of ['users', 'quotes', 'search', 'ops'] as const) {
      assert.equal(platform.urls.metrics[name], `http://127.0.0.1:${config.ports[`${name}Metrics`]}`);
      const scraped = await fetch(`${platform.urls.metrics[name]}/metrics`);
      assert.equal(scraped.status, 200, `${name} metrics listener`);
      assert.match(await scraped.text(), new RegExp(`^haddock_build_info\\{.*service="${name}"`, 'm'));
      const open = await fetch(`${platform.urls[name]}/metrics`);
      assert.equal(open.status, 404, `${name} public port`);
      assert.deepEqual(await open.json(), { error: 'Route non trouvée' });
    }

    const redisFiles = filesUnder(join(varDir, 'redis'));
    assert.ok(
      redisFiles.some((file) => /appendonly/.test(file) && statSync(file).isFile()),
      `an AOF file under ${varDir}/redis: ${redisFiles.join(', ')}`,
    );
    for (const name of ['redis', 'users', 'quotes', 'search', 'gateway', 'alert-sink']) {
      const log = join(varDir, 'log', `${name}.log`);
      assert.ok(statSync(log).size > 0, `${log} is written`);
    }

    const oldQuotes = pids.quotes as number;
    process.kill(oldQuotes, 'SIGKILL');
    const newQuotes = await until('quotes restarted and answering through the gateway', 10_000, async () => {
      const pid = platform.pids().quotes;
      if (pid === undefined || pid === oldQuotes) return undefined;
      const response = await fetch(`${platform.urls.gateway}/quotes/1`);
      await response.arrayBuffer();
      return response.status === 200 ? pid : undefined;
    });
    assert.notEqual(newQuotes, oldQuotes);
    assert.ok(events.some((e) => e.type === 'exited' && e.name === 'quotes' && e.restartInMs === 250));
    assert.ok(events.some((e) => e.type === 'restarted' && e.name === 'quotes' && e.pid === newQuotes));

    const before = { ...platform.pids() };
    await platform.stop();
    for (const [name, pid] of Object.entries(before)) {
      assert.ok(pid !== undefined && isGone(pid), `${name} (pid ${pid}) is gone`);
    }
    const order = events.flatMap((e) => (e.type === 'stopped' ? [e.name] : []));
    assert.equal(order[0], 'alert-sink', 'the last tier stops first');
    assert.ok(order.indexOf('gateway') < order.indexOf('quotes'), 'the gateway stops before the services');
    assert.equal(order.at(-1), 'redis', 'redis stops last');
    for (const port of Object.values(config.ports)) assert.ok(await portIsFree(port), `port ${port} is free`);
  });

  test('MONITORING=off starts neither Prometheus nor Alertmanager, even when installed', { timeout: 60_000 }, async () => {
    requireRedisServer();
    const env = await platformEnv(tempDir('haddock-runner-'));
    const events: PlatformEvent[] = [];
    const platform = await startPlatform(loadConfig({ ...env, MONITORING: 'off' }), { onEvent: (e) => events.push(e) });
    handles.push(platform);
    try {
      const names = Object.keys(platform.pids());
      assert.ok(!names.includes('prometheus') && !names.includes('alertmanager'), names.join(', '));
      assert.equal(platform.urls.prometheus, undefined);
      assert.equal(platform.urls.alertmanager, undefined);
      assert.ok(!events.some((e) => e.type === 'notice'), 'no notice: monitoring was turned off, not found missing');
      assert.ok(await portIsFree(Number(env.PROMETHEUS_PORT)), 'nothing listens on the Prometheus port');
    } finally {
      await platform.stop();
    }
  });

  test('stopChild keeps a service down without restart until startChild brings it back', { timeout: 60_000 }, async () => {
    requireRedisServer();
    const platform = await startPlatform(loadConfig(await platformEnv(tempDir('haddock-runner-'))));
    handles.push(platform);
    try {
      const old = platform.pids().quotes as number;
      await platform.stopChild('quotes');
      assert.ok(isGone(old), 'the quotes process is gone');
      // Longer than the first restart delay (250 ms): a supervised crash would be back by now.
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      assert.equal(platform.pids().quotes, undefined, 'not restarted');
      const down = await fetch(`${platform.urls.gateway}/quotes/1`);
      await down.arrayBuffer();
      assert.equal(down.status, 502);

      await platform.startChild('quotes');
      const pid = platform.pids().quotes;
      assert.ok(pid !== undefined && pid !== old, 'a new quotes process');
      const up = await until('quotes answers through the gateway', 10_000, async () => {
        const response = await fetch(`${platform.urls.gateway}/quotes/1`);
        await response.arrayBuffer();
        return response.status === 200 ? response.status : undefined;
      });
      assert.equal(up, 200);
      await assert.rejects(platform.stopChild('nobody'), /no child is named nobody/);
    } finally {
      await platform.stop();
    }
  });

  test('rejects with the install command when redis-server is not on PATH and REDIS_URL is unset', {
    timeout: 10_000,
  }, async () => {
    const emptyPath = tempDir('haddock-nopath-');
    const env = { ...(await platformEnv(tempDir('haddock-runner-'))), PATH: emptyPath };
    await assert.rejects(startPlatform(loadConfig(env)), (err: Error) => {
      assert.equal(err.message, REDIS_MISSING_MESSAGE);
      return true;
    });
  });

  test('MONITORING=on rejects with the install command when Prometheus and Alertmanager are not on PATH', {
    timeout: 10_000,
  }, async () => {
    const varDir = tempDir('haddock-runner-');
    const env = { ...(await platformEnv(varDir)), PATH: pathWithRedisOnly(), MONITORING: 'on' };
    const events: PlatformEvent[] = [];
    await assert.rejects(startPlatform(loadConfig(env), { onEvent: (e) => events.push(e) }), (err: Error) => {
      assert.equal(err.message, monitoringRequiredMessage(['prometheus', 'alertmanager']));
      assert.match(err.message, /apt-get update && apt-get install -y prometheus prometheus-alertmanager/);
      return true;
    });
    assert.deepEqual(events, [], 'nothing was started');
  });

  test('the monitoring ports are validated with the others: all distinct, unless MONITORING=off', async () => {
    const env = await platformEnv(tempDir('haddock-runner-'));
    assert.throws(
      () => loadConfig({ ...env, MONITORING: 'auto', PROMETHEUS_PORT: env.ALERTMANAGER_PORT, ALERT_SINK_PORT: env.USERS_PORT }),
      (err: Error) => {
        assert.match(err.message, /ALERTMANAGER_PORT and PROMETHEUS_PORT are both/);
        assert.match(err.message, /ALERT_SINK_PORT and USERS_PORT are both/);
        return true;
      },
    );
    assert.throws(() => loadConfig({ ...env, GATEWAY_METRICS_PORT: env.GATEWAY_PORT }), /GATEWAY_METRICS_PORT and GATEWAY_PORT/);
    assert.throws(() => loadConfig({ ...env, QUOTES_METRICS_PORT: env.QUOTES_PORT }), /QUOTES_METRICS_PORT and QUOTES_PORT/);
    assert.throws(
      () => loadConfig({ ...env, OPS_METRICS_PORT: env.USERS_METRICS_PORT }),
      /OPS_METRICS_PORT and USERS_METRICS_PORT/,
    );
    assert.doesNotThrow(() => loadConfig({ ...env, MONITORING: 'off', PROMETHEUS_PORT: env.ALERTMANAGER_PORT }));
    assert.throws(
      () => loadConfig({ ...env, MONITORING: 'sometimes', MONITORING_PROFILE: 'fast' }),
      (err: Error) => {
        assert.match(err.message, /MONITORING must be one of auto, on, off/);
        assert.match(err.message, /MONITORING_PROFILE must be one of production, test/);
        return true;
      },
    );
  });

  test('a port already in use fails the start clearly and leaves no process behind', { timeout: 60_000 }, async () => {
    requireRedisServer();
    const env = await platformEnv(tempDir('haddock-runner-'));
    const squatter: Server = createServer();
    squatter.listen(Number(env.GATEWAY_PORT), '127.0.0.1');
    await once(squatter, 'listening');
    const started: number[] = [];
    try {
      await assert.rejects(
        startPlatform(loadConfig(env), { onEvent: (e) => e.type === 'started' && started.push(e.pid) }),
        new RegExp(`port ${env.GATEWAY_PORT} \\(gateway\\) is already in use`),
      );
    } finally {
      squatter.close();
    }
    assert.ok(started.length >= 4, 'redis and the services had started');
    for (const pid of started) assert.ok(isGone(pid), `pid ${pid} is gone`);
  });

  test('bad ALERT_* receiver variables are configuration errors naming the variable, never its value', async () => {
    const env = await platformEnv(tempDir('haddock-runner-'));
    const secret = 'not-a-url-but-a-s3cr3t-token';
    assert.throws(
      () => loadConfig({ ...env, MONITORING: 'auto', ALERT_SLACK_WEBHOOK_URL: secret }),
      (err: Error) => {
        assert.match(err.message, /ALERT_SLACK_WEBHOOK_URL/);
        assert.ok(!err.message.includes(secret), err.message);
        return true;
      },
    );
    assert.doesNotThrow(() => loadConfig({ ...env, MONITORING: 'off', ALERT_SLACK_WEBHOOK_URL: secret }));
  });

  test('npm start entry: prints the URLs and one notice for missing monitoring; SIGINT stops everything and exits 0', {
    timeout: 60_000,
  }, async () => {
    requireRedisServer();
    // MONITORING=auto on a machine without Prometheus or Alertmanager.
    const env: NodeJS.ProcessEnv = {
      ...(await platformEnv(tempDir('haddock-entry-'))),
      MONITORING: undefined,
      PATH: pathWithRedisOnly(),
    };
    const runner = spawn(process.execPath, ['--import', 'tsx', join(REPO, 'src/platform/start.ts')], {
      cwd: REPO,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    runner.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      output += chunk;
    });
    runner.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      output += chunk;
    });
    const exited = once(runner, 'exit');
    try {
      await until('the runner says it is running', 45_000, async () =>
        output.includes('Press Ctrl-C to stop.') ? true : runner.exitCode === null ? undefined : assert.fail(output),
      );
      assert.match(output, new RegExp(`gateway +http://localhost:${env.GATEWAY_PORT}`));
      assert.match(output, new RegExp(`API docs +http://localhost:${env.GATEWAY_PORT}/apidocs`));
      assert.match(output, new RegExp(`alert log +http://localhost:${env.ALERT_SINK_PORT}/alerts`));
      assert.doesNotMatch(output, /prometheus +http/);
      const notices = output.split('\n').filter((line) => line.includes('not found'));
      assert.deepEqual(notices, [`[haddock] ${MONITORING_MISSING_NOTICE}`]);
      const pids = [...output.matchAll(/started +\S+ \(pid (\d+)\)/g)].map((m) => Number(m[1]));
      assert.equal(pids.length, 7, output);
      runner.kill('SIGINT');
      const [code] = await exited;
      assert.equal(code, 0, output);
      assert.match(output, /all stopped/);
      for (const pid of pids) assert.ok(isGone(pid), `pid ${pid} is gone`);
    } finally {
      if (runner.exitCode === null) runner.kill('SIGKILL');
    }
  });
});

describe('Supervisor', () => {
  const node = (name: string, code: string, extra: Partial<ChildSpec> = {}): ChildSpec => {
    const dir = tempDir('haddock-sup-');
    return {
      name,
      command: process.execPath,
      args: ['-e', code],
      env: process.env,
      cwd: dir,
      logFile: join(dir, `${name}.log`),
      pidFile: join(dir, `${name}.pid`),
      identity: code,
      tier: 0,
      probe: async () => {},
      stopTimeoutMs: 2_000,
      ...extra,
    };
  };

  test('a child that keeps exiting is restarted with doubling delays', { timeout: 20_000 }, async () => {
    const events: SupervisorEvent[] = [];
    const supervisor = new Supervisor([node('crasher', 'setTimeout(() => process.exit(1), 20)')], {
      readyTimeoutMs: 5_000,
      onEvent: (e) => events.push(e),
    });
    try {
      await supervisor.start();
      await until('three restarts', 5_000, async () =>
        events.filter((e) => e.type === 'restarted').length >= 3 ? true : undefined,
      );
    } finally {
      await supervisor.stop();
    }
    const delays = events.flatMap((e) => (e.type === 'exited' ? [e.restartInMs] : []));
    assert.deepEqual(delays.slice(0, 3), [250, 500, 1_000]);
  });

  test('stopChild stops one child without restart; startChild brings it back and waits for its probe', {
    timeout: 20_000,
  }, async () => {
    const events: SupervisorEvent[] = [];
    let probes = 0;
    const supervisor = new Supervisor(
      [
        node('kept', 'setInterval(() => {}, 1000)'),
        node('paused', 'setInterval(() => {}, 1000)', {
          probe: async () => {
            probes += 1;
          },
        }),
      ],
      { readyTimeoutMs: 5_000, onEvent: (e) => events.push(e) },
    );
    try {
      await supervisor.start();
      const { kept, paused } = supervisor.pids() as Record<string, number>;
      await supervisor.stopChild('paused');
      assert.ok(isGone(paused as number), 'paused is gone');
      // Twice the first restart delay: a crash would have been restarted by now.
      await new Promise((resolve) => setTimeout(resolve, 600));
      assert.equal(supervisor.pids().paused, undefined);
      assert.ok(!events.some((e) => e.type === 'restarted'), 'no restart');
      assert.equal(supervisor.pids().kept, kept, 'the other child is untouched');

      const probesBefore = probes;
      await supervisor.startChild('paused');
      const again = supervisor.pids().paused;
      assert.ok(again !== undefined && again !== paused);
      assert.ok(probes > probesBefore, 'startChild waited for the probe');
      await supervisor.startChild('paused');
      assert.equal(supervisor.pids().paused, again, 'starting a running child changes nothing');
      await assert.rejects(supervisor.startChild('nobody'), /no child is named nobody \(known: kept, paused\)/);
    } finally {
      await supervisor.stop();
    }
    await assert.rejects(supervisor.startChild('paused'), /stopping/);
  });

  test('a child that never passes its probe fails the start with its name and log, and is stopped', {
    timeout: 20_000,
  }, async () => {
    const events: SupervisorEvent[] = [];
    const spec = node('sleeper', 'console.log("still warming up"); setInterval(() => {}, 1000)', {
      probe: async () => {
        throw new Error('not yet');
      },
    });
    const supervisor = new Supervisor([spec], { readyTimeoutMs: 800, onEvent: (e) => events.push(e) });
    await assert.rejects(supervisor.start(), /sleeper did not become ready within 1 s \(not yet\)[\s\S]*still warming up/);
    const pid = events.find((e) => e.type === 'started')?.pid;
    assert.ok(pid !== undefined && isGone(pid));
  });

  test('exit code 2 (bad configuration) fails the start at once instead of retrying for 30 s', { timeout: 20_000 }, async () => {
    const supervisor = new Supervisor(
      [
        node('misconfigured', 'console.error("PORT must be an integer"); process.exit(2)', {
          fatalExitCodes: [2],
          probe: async () => {
            throw new Error('not listening');
          },
        }),
      ],
      { readyTimeoutMs: 30_000 },
    );
    const started = Date.now();
    try {
      await assert.rejects(
        supervisor.start(),
        /misconfigured could not start: it exited with code 2[\s\S]*PORT must be an integer/,
      );
      assert.ok(Date.now() - started < 5_000);
    } finally {
      await supervisor.stop();
    }
  });

  test('a child ignoring SIGTERM is killed after its grace period', { timeout: 20_000 }, async () => {
    const events: SupervisorEvent[] = [];
    const supervisor = new Supervisor(
      [node('stubborn', 'process.on("SIGTERM", () => {}); setInterval(() => {}, 1000)', { stopTimeoutMs: 300 })],
      { readyTimeoutMs: 5_000, onEvent: (e) => events.push(e) },
    );
    await supervisor.start();
    const pid = supervisor.pids().stubborn as number;
    // Let node install the SIGTERM handler before stopping.
    await new Promise((resolve) => setTimeout(resolve, 300));
    await supervisor.stop();
    assert.ok(isGone(pid));
    assert.ok(events.some((e) => e.type === 'stopped' && e.forced));
  });

  test('stop() during start() interrupts it and leaves nothing running', { timeout: 20_000 }, async () => {
    const events: SupervisorEvent[] = [];
    const supervisor = new Supervisor(
      [
        node('first', 'setInterval(() => {}, 1000)'),
        node('second', 'setInterval(() => {}, 1000)', {
          tier: 1,
          probe: async () => {
            throw new Error('never ready');
          },
        }),
      ],
      { readyTimeoutMs: 10_000, onEvent: (e) => events.push(e) },
    );
    const starting = supervisor.start();
    await until('second started', 5_000, async () =>
      events.some((e) => e.type === 'started' && e.name === 'second') ? true : undefined,
    );
    await supervisor.stop();
    await assert.rejects(starting, /interrupted/);
    for (const e of events) if (e.type === 'started') assert.ok(isGone(e.pid), `${e.name} is gone`);
  });

  test('a leftover child named by its pid file is stopped before starting; an unrelated pid is left alone', {
    timeout: 20_000,
  }, async () => {
    const code = 'setInterval(() => {}, 1000) // haddock-leftover-test';
    const leftover = spawn(process.execPath, ['-e', code], { detached: true, stdio: 'ignore' });
    const stranger = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { detached: true, stdio: 'ignore' });
    try {
      const events: SupervisorEvent[] = [];
      const first = node('old', code);
      const second = node('other', 'setInterval(() => {}, 1000) // another identity');
      writeFileSync(first.pidFile, `${leftover.pid}\n`);
      writeFileSync(second.pidFile, `${stranger.pid}\n`);
      const supervisor = new Supervisor([first, second], { readyTimeoutMs: 5_000, onEvent: (e) => events.push(e) });
      await supervisor.start();
      await supervisor.stop();
      assert.ok(events.some((e) => e.type === 'reaped' && e.name === 'old' && e.pid === leftover.pid));
      assert.ok(isGone(leftover.pid as number), 'the leftover is stopped');
      assert.ok(!isGone(stranger.pid as number), 'a process that is not the child is not touched');
    } finally {
      leftover.kill('SIGKILL');
      stranger.kill('SIGKILL');
    }
  });
});
