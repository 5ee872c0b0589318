import { createServer } from 'node:net';

/**
 * A TCP port on 127.0.0.1 that was free a moment ago: listens on port 0, reads
 * the port the system chose, closes. Another process may take it before the
 * caller binds it; callers that start a server on it fail clearly in that case.
 */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port assigned')),
      );
    });
  });
}

/**
 * `count` distinct free TCP ports on 127.0.0.1: every listener is held open
 * until all are assigned, so the system cannot hand the same port out twice
 * (as successive `freePort()` calls may). The same caveat applies: another
 * process may take one before the caller binds it.
 */
export async function freePorts(count: number): Promise<number[]> {
  const servers = Array.from({ length: count }, () => createServer());
  try {
    return await Promise.all(
      servers.map(
        (server) =>
          new Promise<number>((resolve, reject) => {
            server.once('error', reject);
            server.listen(0, '127.0.0.1', () => {
              const address = server.address();
              if (typeof address === 'object' && address !== null) resolve(address.port);
              else reject(new Error('no port assigned'));
            });
          }),
      ),
    );
  } finally {
    await Promise.all(
      servers.map((server) => new Promise<void>((resolve) => (server.listening ? server.close(() => resolve()) : resolve()))),
    );
  }
}
