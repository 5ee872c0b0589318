import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { test } from 'node:test';
import { freePorts } from '../../src/lib/net/index.ts';

test('freePorts(n) → n distinct ports, each free to listen on at once', async () => {
  for (let round = 0; round < 20; round++) {
    const ports = await freePorts(10);
    assert.equal(ports.length, 10);
    assert.equal(new Set(ports).size, 10, `a port came twice: ${ports.join(', ')}`);
    const servers = ports.map(() => createServer());
    try {
      await Promise.all(
        servers.map(
          (server, i) =>
            new Promise<void>((resolve, reject) => {
              server.once('error', reject);
              server.listen(ports[i], '127.0.0.1', () => resolve());
            }),
        ),
      );
    } finally {
      await Promise.all(servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
    }
  }
});
