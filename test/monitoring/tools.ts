import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../src/lib/net/index.ts';

export const INSTALL_HINT = 'install them: apt-get update && apt-get install -y prometheus prometheus-alertmanager';

/** The path of a monitoring binary, or a failed assertion saying how to install it (never a skip). */
export function requireTool(name: 'promtool' | 'amtool' | 'prometheus'): string {
  const found = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
  const path = found.stdout.trim();
  assert.ok(found.status === 0 && path !== '', `${name} is not installed: ${INSTALL_HINT}`);
  return path;
}

export interface RunResult {
  readonly status: number | null;
  readonly output: string;
}

/** Runs a tool to completion; `output` is stdout and stderr together, for assertion messages. */
export function run(tool: 'promtool' | 'amtool', args: string[]): RunResult {
  const result = spawnSync(requireTool(tool), args, { encoding: 'utf8', timeout: 120_000 });
  if (result.error) throw result.error;
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

/** Asserts that a tool run succeeded, showing its output when it did not. */
export function assertSucceeds(tool: 'promtool' | 'amtool', args: string[]): string {
  const { status, output } = run(tool, args);
  assert.equal(status, 0, `${tool} ${args.join(' ')} exited ${status}:\n${output}`);
  return output;
}

/** A fresh temporary directory, removed by the returned function. */
export async function tempDir(prefix: string): Promise<{ dir: string; remove: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), `haddock-${prefix}-`));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

/** A real Prometheus on a free loopback port, with no target, to parse and evaluate PromQL. */
export interface ScratchPrometheus {
  readonly url: string;
  /** Runs an instant query: the HTTP status and the API's JSON body. */
  query(expr: string): Promise<{ status: number; body: { status: string; errorType?: string; error?: string } }>;
  stop(): Promise<void>;
}

export async function startPrometheus(): Promise<ScratchPrometheus> {
  const binary = requireTool('prometheus');
  const { dir, remove } = await tempDir('prometheus');
  const config = join(dir, 'prometheus.yml');
  await writeFile(config, 'global:\n  scrape_interval: 15s\n');
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  let log = '';
  const child: ChildProcess = spawn(
    binary,
    [
      `--config.file=${config}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  child.stdout?.on('data', (chunk: Buffer) => {
    log += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    log += chunk.toString();
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
    await remove();
  };

  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) {
      await remove();
      assert.fail(`prometheus exited ${child.exitCode} before it was ready:\n${log}`);
    }
    try {
      const ready = await fetch(`${url}/-/ready`);
      if (ready.ok) break;
    } catch {
      // Not listening yet.
    }
    if (Date.now() > deadline) {
      await stop();
      assert.fail(`prometheus was not ready within 30 s:\n${log}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }

  return {
    url,
    async query(expr) {
      const response = await fetch(`${url}/api/v1/query`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ query: expr }),
      });
      return { status: response.status, body: (await response.json()) as { status: string; errorType?: string } };
    },
    stop,
  };
}
