// The floor every route is compared with: a bare node:http server doing one
// Redis GET per request and answering a small JSON body. Run as its own
// process, like the services. Arguments: port, redis URL.
import { createServer } from 'node:http';
import { Redis } from 'ioredis';

const [port, redisUrl] = process.argv.slice(2);
const redis = new Redis(redisUrl ?? 'redis://127.0.0.1:6379');
await redis.set('bench:floor', JSON.stringify({ id: 1, quote: 'Mille sabords' }));

const server = createServer((_req, res) => {
  redis.get('bench:floor').then(
    (value) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(value);
    },
    () => {
      res.writeHead(503);
      res.end();
    },
  );
});
server.keepAliveTimeout = 72_000;
server.listen(Number(port), '127.0.0.1', () => process.send?.('ready'));
process.on('SIGTERM', () => {
  server.close();
  redis.disconnect();
  process.exit(0);
});
