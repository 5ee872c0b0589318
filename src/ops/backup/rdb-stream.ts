import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { connect, type Socket } from 'node:net';
import type { RedisAddress, Secret } from '../../lib/config/index.ts';

export interface RdbTransfer {
  readonly bytes: number;
  readonly sha256: string;
}

export interface RdbOptions {
  /** The primary to stream from (under Sentinel, the one the Sentinels name now). */
  readonly address: RedisAddress;
  /** An ACL user (REDIS_URL's); the default user when unset. */
  readonly username?: string;
  readonly password?: Secret;
  /** Called as bytes arrive, for a progress bar. `total` is null for a diskless (streamed) transfer. */
  readonly onProgress?: (received: number, total: number | null) => void;
  readonly timeoutMs?: number;
}

const EOF_MARK_LENGTH = 40;

/**
 * Takes a point-in-time snapshot of a Redis server over the network, as a
 * replica would: `SYNC` makes the server fork and send its RDB, consistent at
 * one instant, whether it writes it to disk first (`$<length>` preamble) or
 * streams it (`$EOF:<mark>` preamble, diskless replication). Nothing is read
 * from the server's filesystem, so it works from any pod that reaches Redis.
 */
export async function downloadRdb(options: RdbOptions, destination: string): Promise<RdbTransfer> {
  const socket = connect({ host: options.address.host, port: options.address.port });
  const file = createWriteStream(destination);
  const hash = createHash('sha256');
  const timeoutMs = options.timeoutMs ?? 300_000;

  try {
    await once(socket, 'connect');
    socket.setTimeout(timeoutMs);
    const password = options.password?.reveal();
    const user = options.username;
    if (password !== undefined) {
      socket.write(command(user ? ['AUTH', user, password] : ['AUTH', password]));
    }
    socket.write(command(['SYNC']));
    return await receive(socket, password !== undefined, hash, file, options.onProgress);
  } finally {
    socket.destroy();
    await new Promise<void>((resolve) => file.end(resolve));
  }
}

function command(parts: string[]): string {
  return `*${parts.length}\r\n${parts.map((p) => `$${Buffer.byteLength(p)}\r\n${p}\r\n`).join('')}`;
}

function once(socket: Socket, event: 'connect'): Promise<void> {
  return new Promise((resolve, reject) => {
    socket.once(event, () => resolve());
    socket.once('error', reject);
  });
}

/** Reads the AUTH reply (if any), the preamble, then the payload; resolves when the RDB is complete. */
function receive(
  socket: Socket,
  expectAuthReply: boolean,
  hash: ReturnType<typeof createHash>,
  file: ReturnType<typeof createWriteStream>,
  onProgress: RdbOptions['onProgress'],
): Promise<RdbTransfer> {
  return new Promise((resolve, reject) => {
    let pending: Buffer = Buffer.alloc(0);
    let awaitingAuth = expectAuthReply;
    let total: number | null | undefined; // undefined: preamble not read yet; null: diskless
    let eofMark: Buffer | undefined;
    let received = 0;
    let tail: Buffer = Buffer.alloc(0); // last bytes of a diskless stream, to spot the end mark

    const fail = (err: Error) => {
      socket.removeAllListeners('data');
      reject(err);
    };
    const write = (chunk: Buffer) => {
      if (chunk.length === 0) return;
      hash.update(chunk);
      file.write(chunk);
      received += chunk.length;
      onProgress?.(received, total ?? null);
    };
    const finish = () => {
      socket.removeAllListeners('data');
      socket.destroy();
      resolve({ bytes: received, sha256: hash.digest('hex') });
    };

    socket.on('timeout', () => fail(new Error('timed out while receiving the RDB snapshot')));
    socket.on('error', fail);
    socket.on('close', () => {
      if (total === undefined || (total !== null && received < total))
        fail(new Error('Redis closed the connection mid-transfer'));
    });
    socket.on('data', (data: Buffer) => {
      pending = pending.length === 0 ? data : Buffer.concat([pending, data]);
      // Header phase: line-based replies until the `$` preamble.
      while (total === undefined) {
        // The master sends bare newlines as keep-alives while it prepares the snapshot.
        while (pending[0] === 0x0a) pending = pending.subarray(1);
        const end = pending.indexOf('\r\n');
        if (end < 0) return;
        const line = pending.subarray(0, end).toString();
        pending = pending.subarray(end + 2);
        if (line.startsWith('-')) return fail(new Error(`Redis refused the snapshot: ${line.slice(1)}`));
        if (awaitingAuth) {
          awaitingAuth = false;
          continue;
        }
        if (!line.startsWith('$')) return fail(new Error(`unexpected reply before the snapshot: ${line.slice(0, 80)}`));
        if (line.startsWith('$EOF:')) {
          eofMark = Buffer.from(line.slice(5));
          if (eofMark.length !== EOF_MARK_LENGTH) return fail(new Error('malformed diskless preamble'));
          total = null;
        } else {
          total = Number(line.slice(1));
          if (!Number.isInteger(total) || total < 0) return fail(new Error(`malformed snapshot length: ${line}`));
        }
      }
      if (total !== null) {
        const take = pending.subarray(0, total - received);
        pending = Buffer.alloc(0);
        write(take);
        if (received === total) finish();
        return;
      }
      // Diskless: everything up to the 40-byte mark is payload. Hold back the
      // last 40 bytes until more data proves they do not start the mark.
      const window = Buffer.concat([tail, pending]);
      pending = Buffer.alloc(0);
      const mark = eofMark as Buffer;
      // The replication stream may follow the mark in the same chunk: look for it anywhere.
      const at = window.indexOf(mark);
      if (at >= 0) {
        write(window.subarray(0, at));
        finish();
        return;
      }
      const keep = Math.min(EOF_MARK_LENGTH, window.length);
      write(window.subarray(0, window.length - keep));
      tail = window.subarray(window.length - keep);
    });
  });
}
