import { type ChildProcess, spawn } from 'node:child_process';
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { freePort } from '../../lib/net/index.ts';
import { createDirectRedis, type Redis } from '../../lib/redis/index.ts';

export const REDIS_SERVER_MISSING =
  'redis-server is needed to read a backup (restore drills load it into a throwaway server). Install it with: apt-get update && apt-get install -y redis-server';

/** A throwaway redis-server that loaded one RDB file; stop() kills it and removes its folder. */
export interface ScratchRedis {
  readonly client: Redis;
  readonly port: number;
  stop(): Promise<void>;
}

/** The prefix of the scratch folders, so that whoever holds the backup lock can sweep those a crash left behind. */
export const SCRATCH_DIR_PREFIX = '.drill-';

/**
 * Starts a private redis-server on a free loopback port that loads `rdbFile`
 * (no persistence of its own), and waits until the dataset is loaded. Its
 * folder is made in `workDir` (the backup folder: a crash's leftovers are
 * swept there by the next backup) and removed by stop(), or on any failure.
 */
export async function startScratchRedis(rdbFile: string, redisServer: string, workDir: string): Promise<ScratchRedis> {
  const dir = await mkdtemp(join(workDir, SCRATCH_DIR_PREFIX));
  let port: number;
  try {
    await copyFile(rdbFile, join(dir, 'dump.rdb'));
    port = await freePort();
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  const child: ChildProcess = spawn(
    redisServer,
    ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--dbfilename', 'dump.rdb', '--appendonly', 'no', '--save', ''],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const spawnError = new Promise<Error>((resolve) => child.once('error', resolve));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
    await rm(dir, { recursive: true, force: true });
  };
  const client = createDirectRedis({ host: '127.0.0.1', port });
  try {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const early = await Promise.race([spawnError, exited, new Promise((r) => setTimeout(() => r('wait'), 100))]);
      if (early instanceof Error) throw new Error(REDIS_SERVER_MISSING, { cause: early });
      if (early !== 'wait')
        throw new Error('the throwaway redis-server exited: the backup file may be corrupt or from a newer Redis');
      try {
        if (client.status !== 'ready') await client.connect();
        const info = await client.info('persistence');
        if (/loading:0/.test(info)) break;
      } catch {
        client.disconnect();
      }
      if (Date.now() > deadline) throw new Error('the throwaway redis-server did not load the backup within 30 s');
    }
  } catch (err) {
    client.disconnect();
    await stop();
    throw err;
  }
  return {
    client,
    port,
    stop: async () => {
      client.disconnect();
      await stop();
    },
  };
}
