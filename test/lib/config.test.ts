import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError, DEFAULT_ADMIN_KEY, type Env, EnvReader, parseAdminKeys } from '../../src/lib/config/index.ts';
import { loadConfig as loadQuotesConfig } from '../../src/services/quotes/config.ts';
import { loadConfig as loadSearchConfig } from '../../src/services/search/config.ts';
import { loadConfig as loadUsersConfig } from '../../src/services/users/config.ts';

/** Runs `read` on a reader over `env`, then returns the value and the problems `done()` reports. */
function read<T>(env: Env, readValue: (reader: EnvReader) => T): { value: T; problems: readonly string[] } {
  const reader = new EnvReader(env);
  const value = readValue(reader);
  try {
    reader.done();
    return { value, problems: [] };
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return { value, problems: err.problems };
  }
}

const readerCases: ReadonlyArray<{
  name: string;
  env: Env;
  readValue: (r: EnvReader) => unknown;
  value: unknown;
  problem?: RegExp;
}> = [
  { name: 'string falls back when unset', env: {}, readValue: (r) => r.string('X', 'd'), value: 'd' },
  { name: 'string falls back when blank', env: { X: '   ' }, readValue: (r) => r.string('X', 'd'), value: 'd' },
  { name: 'string trims the value', env: { X: ' v ' }, readValue: (r) => r.string('X', 'd'), value: 'v' },
  { name: 'int reads an integer', env: { X: '42' }, readValue: (r) => r.int('X', 1, 0, 100), value: 42 },
  { name: 'int reads a negative integer', env: { X: '-5' }, readValue: (r) => r.int('X', 1, -10, 100), value: -5 },
  { name: 'int falls back when unset', env: {}, readValue: (r) => r.int('X', 7, 0, 100), value: 7 },
  {
    name: 'int refuses text',
    env: { X: 'abc' },
    readValue: (r) => r.int('X', 7, 0, 100),
    value: 7,
    problem: /X must be an integer, got "abc"/,
  },
  {
    name: 'int refuses a decimal',
    env: { X: '1.5' },
    readValue: (r) => r.int('X', 7, 0, 100),
    value: 7,
    problem: /X must be an integer/,
  },
  {
    name: 'int refuses a value below the range',
    env: { X: '-1' },
    readValue: (r) => r.int('X', 7, 0, 100),
    value: 7,
    problem: /X must be between 0 and 100, got -1/,
  },
  {
    name: 'int refuses a value above the range',
    env: { X: '101' },
    readValue: (r) => r.int('X', 7, 0, 100),
    value: 7,
    problem: /between 0 and 100/,
  },
  {
    name: 'port refuses 65536',
    env: { P: '65536' },
    readValue: (r) => r.port('P', 80),
    value: 80,
    problem: /P must be between 0 and 65535/,
  },
  { name: 'bool reads yes as true', env: { B: 'YES' }, readValue: (r) => r.bool('B', false), value: true },
  { name: 'bool reads 0 as false', env: { B: '0' }, readValue: (r) => r.bool('B', true), value: false },
  {
    name: 'bool refuses maybe',
    env: { B: 'maybe' },
    readValue: (r) => r.bool('B', true),
    value: true,
    problem: /B must be true or false, got "maybe"/,
  },
  { name: 'oneOf reads an allowed value', env: { O: 'b' }, readValue: (r) => r.oneOf('O', 'a', ['a', 'b']), value: 'b' },
  {
    name: 'oneOf refuses another value',
    env: { O: 'c' },
    readValue: (r) => r.oneOf('O', 'a', ['a', 'b']),
    value: 'a',
    problem: /O must be one of a, b, got "c"/,
  },
  {
    name: 'url reads a redis URL',
    env: { U: 'redis://h:1' },
    readValue: (r) => r.url('U', 'redis://d', ['redis:']),
    value: 'redis://h:1',
  },
  {
    name: 'url refuses another protocol',
    env: { U: 'http://h' },
    readValue: (r) => r.url('U', 'redis://d', ['redis:', 'rediss:']),
    value: 'http://h',
    problem: /U must use redis: or rediss:, got "http:"/,
  },
  {
    name: 'url refuses text that is no URL',
    env: { U: 'not a url' },
    readValue: (r) => r.url('U', 'redis://d', ['redis:']),
    value: 'not a url',
    problem: /U is not a valid URL/,
  },
  { name: 'number reads a decimal', env: { X: '0.5' }, readValue: (r) => r.number('X', 1, 0.01, 64), value: 0.5 },
  { name: 'number reads an integer', env: { X: '3' }, readValue: (r) => r.number('X', 1, 0.01, 64), value: 3 },
  {
    name: 'number refuses text',
    env: { X: 'two' },
    readValue: (r) => r.number('X', 1, 0.01, 64),
    value: 1,
    problem: /X must be a number, got "two"/,
  },
  {
    name: 'number refuses a value out of range',
    env: { X: '0' },
    readValue: (r) => r.number('X', 1, 0.01, 64),
    value: 1,
    problem: /X must be between 0.01 and 64, got 0/,
  },
];

for (const { name, env, readValue, value, problem } of readerCases) {
  test(`EnvReader ${name}`, () => {
    const result = read(env, readValue);
    assert.deepEqual(result.value, value);
    if (problem === undefined) assert.deepEqual(result.problems, []);
    else {
      assert.equal(result.problems.length, 1);
      assert.match(result.problems[0] ?? '', problem);
    }
  });
}

test('EnvReader.done reports every problem in one ConfigError', () => {
  const reader = new EnvReader({ A: 'x', B: 'maybe' });
  reader.int('A', 0, 0, 1);
  reader.bool('B', false);
  assert.throws(
    () => reader.done(),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.equal(err.problems.length, 2);
      assert.match(err.message, /A must be an integer[\s\S]*B must be true or false/);
      return true;
    },
  );
});

const adminCases: ReadonlyArray<{
  name: string;
  env: Env;
  nodeEnv: string;
  keys: string[];
  isDefault: boolean;
  problem?: RegExp;
}> = [
  {
    name: 'uses the default key when unset outside production',
    env: {},
    nodeEnv: 'development',
    keys: [DEFAULT_ADMIN_KEY],
    isDefault: true,
  },
  {
    name: 'refuses an unset key in production',
    env: {},
    nodeEnv: 'production',
    keys: [DEFAULT_ADMIN_KEY],
    isDefault: true,
    problem: /ADMIN_KEY must be set when NODE_ENV=production/,
  },
  {
    name: 'reads a single string as one key',
    env: { ADMIN_KEY: 'a-single-key' },
    nodeEnv: 'development',
    keys: ['a-single-key'],
    isDefault: false,
  },
  {
    name: 'reads a JSON list as several keys',
    env: { ADMIN_KEY: '["key-one-0123456789","key-two-0123456789"]' },
    nodeEnv: 'production',
    keys: ['key-one-0123456789', 'key-two-0123456789'],
    isDefault: false,
  },
  {
    name: 'refuses a list that does not parse',
    env: { ADMIN_KEY: '["a",' },
    nodeEnv: 'development',
    keys: [],
    isDefault: false,
    problem: /does not parse/,
  },
  {
    name: 'refuses an empty list',
    env: { ADMIN_KEY: '[]' },
    nodeEnv: 'development',
    keys: [],
    isDefault: false,
    problem: /non-empty string or a JSON list/,
  },
  {
    name: 'refuses a list holding a number',
    env: { ADMIN_KEY: '["ok-key", 3]' },
    nodeEnv: 'development',
    keys: [],
    isDefault: false,
    problem: /non-empty string or a JSON list/,
  },
  {
    name: 'refuses default_key in production',
    env: { ADMIN_KEY: DEFAULT_ADMIN_KEY },
    nodeEnv: 'production',
    keys: [DEFAULT_ADMIN_KEY],
    isDefault: false,
    problem: /must not be the default key/,
  },
  {
    name: 'refuses default_key inside a list in production',
    env: { ADMIN_KEY: '["key-one-0123456789","default_key"]' },
    nodeEnv: 'production',
    keys: ['key-one-0123456789', DEFAULT_ADMIN_KEY],
    isDefault: false,
    problem: /must not be the default key/,
  },
  {
    name: 'refuses a key shorter than 16 in production',
    env: { ADMIN_KEY: 'short-key' },
    nodeEnv: 'production',
    keys: ['short-key'],
    isDefault: false,
    problem: /at least 16 characters/,
  },
];

test('parseAdminKeys reads ADMIN_KEY_FILE (a mounted Secret), trimmed, a JSON list too; both set is a problem', () => {
  const files: Record<string, string> = {
    '/run/secrets/admin_key': 'a-key-from-a-secret-0123\n',
    '/run/secrets/list': '["key-one-0123456789", "key-two-0123456789"]',
  };
  const readFile = (path: string) => {
    const text = files[path];
    if (text === undefined) throw Object.assign(new Error('missing'), { code: 'ENOENT' });
    return text;
  };
  const one = read({ ADMIN_KEY_FILE: '/run/secrets/admin_key' }, (r) => parseAdminKeys(r, 'production', readFile));
  assert.deepEqual(one, { value: { keys: ['a-key-from-a-secret-0123'], isDefault: false }, problems: [] });
  const list = read({ ADMIN_KEY_FILE: '/run/secrets/list' }, (r) => parseAdminKeys(r, 'production', readFile));
  assert.deepEqual(list.value.keys, ['key-one-0123456789', 'key-two-0123456789']);
  const both = read({ ADMIN_KEY: 'x'.repeat(20), ADMIN_KEY_FILE: '/run/secrets/admin_key' }, (r) =>
    parseAdminKeys(r, 'development', readFile),
  );
  assert.match(both.problems.join('\n'), /ADMIN_KEY and ADMIN_KEY_FILE are both set/);
  const missing = read({ ADMIN_KEY_FILE: '/run/secrets/nothing' }, (r) => parseAdminKeys(r, 'development', readFile));
  assert.match(missing.problems.join('\n'), /ADMIN_KEY_FILE: cannot read \/run\/secrets\/nothing \(ENOENT\)/);
});

for (const { name, env, nodeEnv, keys, isDefault, problem } of adminCases) {
  test(`parseAdminKeys ${name}`, () => {
    const result = read(env, (reader) => parseAdminKeys(reader, nodeEnv));
    assert.deepEqual(result.value, { keys, isDefault });
    if (problem === undefined) assert.deepEqual(result.problems, []);
    else {
      assert.equal(result.problems.length, 1);
      assert.match(result.problems[0] ?? '', problem);
    }
  });
}

const loaders = [
  ['quotes', loadQuotesConfig],
  ['users', loadUsersConfig],
  ['search', loadSearchConfig],
] as const;

for (const [service, loadConfig] of loaders) {
  test(`${service} loadConfig reports a bad PORT, LOG_LEVEL and REDIS_URL together`, () => {
    assert.throws(
      () => loadConfig({ PORT: 'eighty', LOG_LEVEL: 'LOUD', REDIS_URL: 'http://localhost:6379' }),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError, 'not a ConfigError');
        assert.equal(err.problems.length, 3, err.message);
        assert.ok(
          err.problems.some((p) => p.startsWith('PORT must be an integer')),
          err.message,
        );
        assert.ok(
          err.problems.some((p) => p.startsWith('LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL')),
          err.message,
        );
        assert.ok(
          err.problems.some((p) => p.startsWith('REDIS_URL must use redis: or rediss:')),
          err.message,
        );
        return true;
      },
    );
  });

  test(`${service} loadConfig refuses NODE_ENV=production without ADMIN_KEY`, () => {
    assert.throws(
      () => loadConfig({ NODE_ENV: 'production' }),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.deepEqual(err.problems, [
          'ADMIN_KEY must be set when NODE_ENV=production (the default key is for the local platform only)',
        ]);
        return true;
      },
    );
  });

  test(`${service} loadConfig refuses default_key in production`, () => {
    assert.throws(() => loadConfig({ NODE_ENV: 'production', ADMIN_KEY: 'default_key' }), ConfigError);
  });

  test(`${service} loadConfig accepts the default key outside production and says so`, () => {
    const config = loadConfig({});
    assert.deepEqual(config.adminKeys, ['default_key']);
    assert.equal(config.adminKeyIsDefault, true);
  });

  test(`${service} loadConfig reads ADMIN_KEY as a JSON list or a single string`, () => {
    assert.deepEqual(loadConfig({ ADMIN_KEY: '["first-key-0123456789","second-key-012345678"]' }).adminKeys, [
      'first-key-0123456789',
      'second-key-012345678',
    ]);
    assert.deepEqual(loadConfig({ ADMIN_KEY: 'single-key-0123456789' }).adminKeys, ['single-key-0123456789']);
  });
}

test('loadConfig applies the documented defaults', () => {
  const config = loadQuotesConfig({});
  assert.equal(config.port, 8002);
  assert.deepEqual(config.redis, { mode: 'url', url: 'redis://127.0.0.1:6379', password: undefined, commandTimeoutMs: 500 });
  assert.equal(config.redisKeyPrefix, 'haddock:');
  assert.equal(config.tokenTtlSeconds, 86_400);
  assert.equal(config.bodyLimitBytes, 16_384);
  assert.equal(config.logLevel, 'info');
  assert.equal(config.maxQuoteLength, 1_000);
  assert.equal(loadUsersConfig({}).port, 8001);
  assert.equal(loadSearchConfig({}).port, 8003);
  assert.equal(config.logFile, undefined, 'stdout only unless LOG_FILE is set');
  assert.equal(config.memoryLimitBytes, undefined);
  assert.equal(config.cpuLimitCores, undefined);
});

test('loadConfig reads LOG_FILE with its rotation defaults (5 MiB, 5 files), and the resource limits', () => {
  const config = loadUsersConfig({ LOG_FILE: 'var/log/users.log', MEMORY_LIMIT_BYTES: '268435456', CPU_LIMIT_CORES: '0.5' });
  assert.deepEqual(config.logFile, { path: 'var/log/users.log', maxBytes: 5_242_880, keep: 5 });
  assert.equal(config.memoryLimitBytes, 268_435_456);
  assert.equal(config.cpuLimitCores, 0.5);
  const tuned = loadSearchConfig({ LOG_FILE: 'search.log', LOG_FILE_MAX_BYTES: '1048576', LOG_FILE_KEEP: '0' });
  assert.deepEqual(tuned.logFile, { path: 'search.log', maxBytes: 1_048_576, keep: 0 });
});

test('loadConfig reports bad LOG_FILE_MAX_BYTES, LOG_FILE_KEEP, MEMORY_LIMIT_BYTES and CPU_LIMIT_CORES together', () => {
  assert.throws(
    () =>
      loadSearchConfig({
        LOG_FILE: 'x.log',
        LOG_FILE_MAX_BYTES: '10',
        LOG_FILE_KEEP: 'many',
        MEMORY_LIMIT_BYTES: '1.5G',
        CPU_LIMIT_CORES: '-1',
      }),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.equal(err.problems.length, 4, err.message);
      for (const name of ['LOG_FILE_MAX_BYTES', 'LOG_FILE_KEEP', 'MEMORY_LIMIT_BYTES', 'CPU_LIMIT_CORES']) {
        assert.ok(
          err.problems.some((p) => p.startsWith(name)),
          `${name} in ${err.message}`,
        );
      }
      return true;
    },
  );
});

const levelCases = [
  ['DEBUG', 'debug'],
  ['info', 'info'],
  ['WARNING', 'warn'],
  ['ERROR', 'error'],
  ['CRITICAL', 'fatal'],
] as const;

for (const [raw, level] of levelCases) {
  test(`loadConfig maps LOG_LEVEL=${raw} to pino's ${level}`, () => {
    assert.equal(loadSearchConfig({ LOG_LEVEL: raw }).logLevel, level);
  });
}

test('loadConfig refuses a key prefix with glob characters or spaces', () => {
  for (const prefix of ['bad*', 'a b:', 'x?', 'x'.repeat(65)]) {
    assert.throws(() => loadSearchConfig({ REDIS_KEY_PREFIX: prefix }), /REDIS_KEY_PREFIX may hold only/, prefix);
  }
});

test('loadConfig returns a frozen object', () => {
  assert.ok(Object.isFrozen(loadSearchConfig({})));
});
