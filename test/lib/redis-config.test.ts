import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { inspect } from 'node:util';
import { loadCliConfig } from '../../src/cli/config.ts';
import {
  ConfigError,
  type Env,
  EnvReader,
  type FileReader,
  type RedisConfig,
  readRedisConfig,
  Secret,
} from '../../src/lib/config/index.ts';
import { describeRedis, isRedisUnavailable } from '../../src/lib/redis/index.ts';
import { loadConfig as loadRunnerConfig } from '../../src/platform/runner/config.ts';
import { platformChildren } from '../../src/platform/runner/platform.ts';
import { loadConfig as loadOpsServiceConfig } from '../../src/services/ops/config.ts';
import { loadConfig as loadQuotesConfig } from '../../src/services/quotes/config.ts';

const DEFAULT_URL = 'redis://127.0.0.1:6379';

/** Secret files by path, for the `_FILE` variables; any other path is missing. */
const files: Record<string, string> = {
  '/run/secrets/redis': '  file-pass-123\n',
  '/run/secrets/sentinel': 'sentinel-pass-456\n',
  '/run/secrets/empty': ' \n',
};
const readFile: FileReader = (path) => {
  const text = files[path];
  if (text === undefined) throw Object.assign(new Error(`ENOENT: ${path}`), { code: 'ENOENT' });
  return text;
};

function readRedis(env: Env): { config: RedisConfig; problems: readonly string[] } {
  const reader = new EnvReader(env);
  const config = readRedisConfig(reader, { url: DEFAULT_URL, readFile });
  try {
    reader.done();
    return { config, problems: [] };
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return { config, problems: err.problems };
  }
}

/** The configuration with each Secret replaced by its value, to compare whole. */
function revealed(config: RedisConfig): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(config).map(([key, value]) => [key, value instanceof Secret ? `secret:${value.reveal()}` : value]),
  );
}

const cases: ReadonlyArray<{ name: string; env: Env; config?: Record<string, unknown>; problems?: RegExp[] }> = [
  {
    name: 'nothing set → the default URL, no password',
    env: {},
    config: { mode: 'url', url: DEFAULT_URL, password: undefined, commandTimeoutMs: 500 },
  },
  {
    name: "REDIS_URL's password moves out of the URL into a secret",
    env: { REDIS_URL: 'redis://:url-pass-789@redis.example:6380/0', REDIS_COMMAND_TIMEOUT_MS: '800' },
    config: { mode: 'url', url: 'redis://redis.example:6380/0', password: 'secret:url-pass-789', commandTimeoutMs: 800 },
  },
  {
    name: 'REDIS_PASSWORD beside a REDIS_URL without one',
    env: { REDIS_URL: 'redis://redis.example:6379', REDIS_PASSWORD: 'direct-pass' },
    config: { mode: 'url', url: 'redis://redis.example:6379', password: 'secret:direct-pass', commandTimeoutMs: 500 },
  },
  {
    name: 'REDIS_PASSWORD_FILE is read and trimmed',
    env: { REDIS_PASSWORD_FILE: '/run/secrets/redis' },
    config: { mode: 'url', url: DEFAULT_URL, password: 'secret:file-pass-123', commandTimeoutMs: 500 },
  },
  {
    name: 'REDIS_SENTINELS → Sentinel mode, master name "haddock" by default',
    env: { REDIS_SENTINELS: 'sentinel-0:26379, sentinel-1:26380,[::1]:26381' },
    config: {
      mode: 'sentinel',
      sentinels: [
        { host: 'sentinel-0', port: 26379 },
        { host: 'sentinel-1', port: 26380 },
        { host: '::1', port: 26381 },
      ],
      masterName: 'haddock',
      password: undefined,
      sentinelPassword: undefined,
      commandTimeoutMs: 500,
    },
  },
  {
    name: 'Sentinel mode with both passwords from files and a master name',
    env: {
      REDIS_SENTINELS: '10.0.0.1:26379',
      REDIS_MASTER_NAME: 'mymaster',
      REDIS_PASSWORD_FILE: '/run/secrets/redis',
      REDIS_SENTINEL_PASSWORD_FILE: '/run/secrets/sentinel',
    },
    config: {
      mode: 'sentinel',
      sentinels: [{ host: '10.0.0.1', port: 26379 }],
      masterName: 'mymaster',
      password: 'secret:file-pass-123',
      sentinelPassword: 'secret:sentinel-pass-456',
      commandTimeoutMs: 500,
    },
  },
  {
    name: 'a password twice (variable and file) is a problem',
    env: { REDIS_PASSWORD: 'a', REDIS_PASSWORD_FILE: '/run/secrets/redis' },
    problems: [/^REDIS_PASSWORD and REDIS_PASSWORD_FILE are both set/],
  },
  {
    name: 'a missing or empty secret file is a problem naming the path',
    env: { REDIS_SENTINELS: 'a:1', REDIS_PASSWORD_FILE: '/run/secrets/nope', REDIS_SENTINEL_PASSWORD_FILE: '/run/secrets/empty' },
    problems: [
      /^REDIS_PASSWORD_FILE: cannot read \/run\/secrets\/nope \(ENOENT\)/,
      /^REDIS_SENTINEL_PASSWORD_FILE: \/run\/secrets\/empty is empty/,
    ],
  },
  {
    name: 'a password in REDIS_URL and REDIS_PASSWORD is a problem',
    env: { REDIS_URL: 'redis://:one@h:6379', REDIS_PASSWORD: 'two' },
    problems: [/^REDIS_URL carries a password and REDIS_PASSWORD is set/],
  },
  {
    name: 'REDIS_URL and REDIS_SENTINELS together are a problem',
    env: { REDIS_URL: 'redis://h:6379', REDIS_SENTINELS: 'a:26379' },
    problems: [/^REDIS_URL and REDIS_SENTINELS are both set/],
  },
  {
    name: 'a Sentinel password without Sentinels is a problem',
    env: { REDIS_SENTINEL_PASSWORD: 'x' },
    problems: [/^REDIS_SENTINEL_PASSWORD is set but REDIS_SENTINELS is not/],
  },
  {
    name: 'every bad Sentinel address is reported, with a bad master name',
    env: { REDIS_SENTINELS: 'a, b:x, c:70000,d:26379', REDIS_MASTER_NAME: 'no spaces allowed' },
    problems: [
      /^REDIS_MASTER_NAME may hold only/,
      /^REDIS_SENTINELS must be a comma-separated list of host:port, got "a"/,
      /^REDIS_SENTINELS must be a comma-separated list of host:port, got "b:x"/,
      /^REDIS_SENTINELS must be a comma-separated list of host:port, got "c:70000"/,
    ],
  },
  {
    name: 'a list of commas names no Sentinel',
    env: { REDIS_SENTINELS: ' , ,' },
    problems: [/^REDIS_SENTINELS names no Sentinel/],
  },
];

for (const c of cases) {
  test(`readRedisConfig: ${c.name}`, () => {
    const { config, problems } = readRedis(c.env);
    if (c.problems === undefined) {
      assert.deepEqual(problems, []);
      assert.deepEqual(revealed(config), c.config);
    } else {
      assert.equal(problems.length, c.problems.length, problems.join('\n'));
      for (const pattern of c.problems)
        assert.ok(
          problems.some((p) => pattern.test(p)),
          `${pattern} in ${problems.join('\n')}`,
        );
    }
  });
}

test('passwords never show in a dump, an inspection, a description or a problem', () => {
  const secrets = ['url-pass-789', 'file-pass-123', 'sentinel-pass-456', 'direct-pass'];
  const configs = [
    readRedis({ REDIS_URL: 'redis://:url-pass-789@h:6379' }).config,
    readRedis({ REDIS_URL: 'redis://h:6379', REDIS_PASSWORD: 'direct-pass' }).config,
    readRedis({
      REDIS_SENTINELS: 'a:26379',
      REDIS_PASSWORD_FILE: '/run/secrets/redis',
      REDIS_SENTINEL_PASSWORD_FILE: '/run/secrets/sentinel',
    }).config,
  ];
  const problems = readRedis({ REDIS_URL: 'redis://:url-pass-789@h:6379', REDIS_PASSWORD: 'direct-pass' }).problems;
  assert.equal(problems.length, 1);
  const shown = [
    ...configs.flatMap((c) => [JSON.stringify(c), inspect(c, { depth: 5 }), String(c.password), describeRedis(c)]),
    ...problems,
  ].join('\n');
  for (const secret of secrets) assert.ok(!shown.includes(secret), `${secret} leaked:\n${shown}`);
  assert.match(JSON.stringify(configs[0]), /"password":"\[redacted\]"/);
});

test('a service reports its Redis problems with the rest of its configuration, all at once', () => {
  assert.throws(
    () =>
      loadQuotesConfig({
        PORT: 'eighty',
        REDIS_SENTINELS: 'a:26379',
        REDIS_URL: 'redis://h:6379',
        REDIS_PASSWORD: 'x',
        REDIS_PASSWORD_FILE: '/nonexistent/haddock-secret',
      }),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.equal(err.problems.length, 3, err.message);
      assert.ok(err.problems.some((p) => p.startsWith('PORT must be an integer')));
      assert.ok(err.problems.some((p) => p.startsWith('REDIS_URL and REDIS_SENTINELS are both set')));
      assert.ok(err.problems.some((p) => p.startsWith('REDIS_PASSWORD and REDIS_PASSWORD_FILE are both set')));
      return true;
    },
  );
});

test('a service reads REDIS_PASSWORD_FILE from the file system', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'haddock-secret-'));
  try {
    await writeFile(join(dir, 'password'), 'mounted-secret\n');
    const config = loadQuotesConfig({ REDIS_SENTINELS: '127.0.0.1:26379', REDIS_PASSWORD_FILE: join(dir, 'password') });
    assert.equal(config.redis.password?.reveal(), 'mounted-secret');
    assert.throws(
      () => loadQuotesConfig({ REDIS_PASSWORD_FILE: join(dir, 'missing') }),
      (err: unknown) =>
        err instanceof ConfigError && /^REDIS_PASSWORD_FILE: cannot read .*missing \(ENOENT\)$/.test(err.problems[0] ?? ''),
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('the operations service uses its own Redis configuration for the tools: one reading, one default', () => {
  const config = loadOpsServiceConfig({});
  assert.equal(config.ops.redis, config.redis, 'the same object, read once');
  assert.equal(config.ops.redis.mode === 'url' && config.ops.redis.url, DEFAULT_URL, 'not the CLI default port 6390');
  const sentinel = loadOpsServiceConfig({ REDIS_SENTINELS: 's:26379', REDIS_KEY_PREFIX: 'other:' });
  assert.equal(sentinel.ops.redis.mode, 'sentinel');
  assert.equal(sentinel.ops.redisKeyPrefix, 'other:');
});

test('the operations service reports its tools settings with the rest, all at once', () => {
  assert.throws(
    () => loadOpsServiceConfig({ PORT: 'eighty', BACKUP_KEEP: '0', REDIS_URL: 'ftp://nowhere' }),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.equal(err.problems.length, 3, err.message);
      assert.ok(err.problems.some((p) => p.startsWith('PORT must be an integer')));
      assert.ok(err.problems.some((p) => p.startsWith('BACKUP_KEEP must be between 1 and 1000')));
      assert.ok(err.problems.some((p) => p.startsWith('REDIS_URL must use redis: or rediss:')));
      return true;
    },
  );
});

test('loadCliConfig defaults to the local platform Redis (REDIS_PORT, else 6390) and reads Sentinel', () => {
  const local = loadCliConfig({}).ops.redis;
  assert.equal(local.mode === 'url' && local.url, 'redis://127.0.0.1:6390');
  const port = loadCliConfig({ REDIS_PORT: '7001' }).ops.redis;
  assert.equal(port.mode === 'url' && port.url, 'redis://127.0.0.1:7001');
  const sentinel = loadCliConfig({ REDIS_SENTINELS: 's1:26379,s2:26379', REDIS_MASTER_NAME: 'm' }).ops.redis;
  assert.equal(describeRedis(sentinel), 'primary "m" via sentinels s1:26379,s2:26379');
});

test('loadCliConfig reports every problem at once, the tools settings and Redis included', () => {
  assert.throws(
    () =>
      loadCliConfig({
        REDIS_URL: 'ftp://nowhere',
        BACKUP_KEEP: '0',
        GATEWAY_PORT: 'x',
        LOG_RETENTION_DAYS: '0',
        REDIS_COMMAND_TIMEOUT_MS: '1',
      }),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.equal(err.problems.length, 5, err.message);
      for (const name of ['REDIS_URL', 'BACKUP_KEEP', 'GATEWAY_PORT', 'LOG_RETENTION_DAYS', 'REDIS_COMMAND_TIMEOUT_MS']) {
        assert.ok(
          err.problems.some((p) => p.startsWith(name)),
          `${name} in ${err.message}`,
        );
      }
      return true;
    },
  );
});

test('the runner starts no Redis of its own under REDIS_SENTINELS, and checks the Sentinel settings with the rest', () => {
  const config = loadRunnerConfig({ REDIS_SENTINELS: '127.0.0.1:26379', REDIS_PORT: '8000' });
  assert.equal(config.redis?.mode, 'sentinel');
  assert.equal(config.redisUrl, undefined);
  assert.equal(loadRunnerConfig({}).redis, undefined, 'a private redis-server by default');
  const children = platformChildren(config, { redisServer: undefined, prometheus: undefined, alertmanager: undefined });
  assert.equal(
    children.some((child) => child.name === 'redis'),
    false,
    'no redis-server child',
  );
  const users = children.find((child) => child.name === 'users');
  assert.equal(users?.env.REDIS_SENTINELS, '127.0.0.1:26379', 'the services ask the Sentinels');
  assert.equal(users?.env.REDIS_URL, undefined, 'and get no REDIS_URL, which they would refuse beside REDIS_SENTINELS');
  assert.throws(
    () => loadRunnerConfig({ REDIS_SENTINELS: 'nope', GATEWAY_PORT: 'x' }),
    (err: unknown) => err instanceof ConfigError && err.problems.length === 2,
  );
});

test('a READONLY answer (a demoted primary) and unreachable Sentinels mean 503, not 500', () => {
  assert.equal(isRedisUnavailable(new Error("READONLY You can't write against a read only replica.")), true);
  assert.equal(isRedisUnavailable(new Error('All sentinels are unreachable and retry is disabled.')), true);
  const aborted = Object.assign(new Error('EXECABORT Transaction discarded because of previous errors.'), {
    previousErrors: [new Error("READONLY You can't write against a read only replica.")],
  });
  assert.equal(isRedisUnavailable(aborted), true, 'a MULTI refused by a replica');
  assert.equal(isRedisUnavailable(new Error('ERR wrong number of arguments')), false);
});
