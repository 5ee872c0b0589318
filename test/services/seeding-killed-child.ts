// Child process of seeding-chunks.test.ts: seeds slowly (a pause every 500 lines) so the test can SIGKILL it
// halfway, holding the lease. Arguments: Redis URL, key prefix, seed file, lease TTL in ms.
import { redisUrlConfig } from '../../src/lib/config/index.ts';
import { createRedis, waitForRedis } from '../../src/lib/redis/index.ts';
import { readQuotesLines } from '../../src/lib/seed/index.ts';
import { QuoteStore } from '../../src/services/quotes/quote-store.ts';

const [url = '', prefix = '', file = '', ttl = '1000'] = process.argv.slice(2);
const redis = createRedis(redisUrlConfig(url, { commandTimeoutMs: 5_000 }));
await waitForRedis(redis, 5_000);
const store = new QuoteStore(redis, prefix, { leaseTtlMs: Number(ttl), chunkSize: 500 });

async function* slowly(): AsyncGenerator<string> {
  let n = 0;
  for await (const line of readQuotesLines(file)) {
    if (++n % 500 === 0) await new Promise((resolve) => setTimeout(resolve, 100));
    yield line;
  }
}

await store.seed(slowly);
redis.disconnect();
