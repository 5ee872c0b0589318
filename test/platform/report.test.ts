import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatUrls, printableRedisUrl } from '../../src/platform/runner/report.ts';

test('printableRedisUrl: a password in REDIS_URL is never printed; a URL without one is unchanged', () => {
  const cases: Array<[string, string]> = [
    ['redis://:s3cret-pass@10.0.0.5:6379/0', 'redis://:redacted@10.0.0.5:6379/0'],
    ['redis://app:s3cret-pass@redis.internal:6380', 'redis://app:redacted@redis.internal:6380'],
    ['redis://127.0.0.1:6390', 'redis://127.0.0.1:6390'],
    ['not a url', 'an invalid REDIS_URL'],
  ];
  for (const [input, expected] of cases) assert.equal(printableRedisUrl(input), expected, input);
});

test('formatUrls prints the Redis address without its password', () => {
  const text = formatUrls({
    gateway: 'http://127.0.0.1:8000',
    apidocs: 'http://127.0.0.1:8000/apidocs',
    users: 'http://127.0.0.1:8001',
    quotes: 'http://127.0.0.1:8002',
    search: 'http://127.0.0.1:8003',
    ops: 'http://127.0.0.1:8004',
    redis: 'redis://:s3cret-pass@127.0.0.1:6390',
    alertSink: 'http://127.0.0.1:9095',
  } as Parameters<typeof formatUrls>[0]);
  assert.doesNotMatch(text, /s3cret-pass/);
  assert.match(text, /redis\s+redis:\/\/:redacted@127\.0\.0\.1:6390/);
});
