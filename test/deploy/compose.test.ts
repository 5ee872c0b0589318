import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { parse, stringify } from 'yaml';
import { loadCliConfig } from '../../src/cli/config.ts';
import {
  ALERT_TOKEN_SECRET,
  COMPOSE_DIR,
  type ComposeCode,
  type ComposeOverrides,
  type ComposeService,
  checkCompose,
  readComposeFiles,
} from '../../src/platform/deploy-checks/compose.ts';
import { REPOSITORY_ROOT, RULES_DIR } from '../../src/platform/monitoring-config/index.ts';
import { buildRouteTableApps } from '../helpers/route-tables.ts';
import { assertSucceeds, tempDir } from '../monitoring/tools.ts';

const FIXTURES = join(import.meta.dirname, 'fixtures');
const COMPOSE = join(REPOSITORY_ROOT, COMPOSE_DIR);

/**
 * The services' real route tables: each app built (never listening, never ready, so nothing is seeded) from a
 * configuration whose Redis does not answer; the routes do not depend on it.
 */
let apps: Record<ComposeService, FastifyInstance>;
let code: ComposeCode;

before(async () => {
  apps = await buildRouteTableApps();
  code = {
    hasRoute: (service, method, url) => apps[service].hasRoute({ method: method as 'GET', url }),
    otherReaders: { ops: [loadCliConfig] },
  };
});

after(async () => {
  await Promise.all(Object.values(apps ?? {}).map((app) => app.close()));
});

function fixture(name: string): string {
  return readFileSync(join(FIXTURES, name), 'utf8');
}

describe('deploy/compose', () => {
  test('the committed stack agrees with the code: no problem', () => {
    assert.deepEqual(checkCompose(readComposeFiles(), code), []);
  });

  test('the route tables are real: a health path is a route, a made-up one is not', () => {
    assert.equal(apps.quotes.hasRoute({ method: 'GET', url: '/quotes/health/ready' }), true);
    assert.equal(apps.quotes.hasRoute({ method: 'GET', url: '/quotes/healthz' }), false);
  });

  const cases: { fixture: string; target: keyof ComposeOverrides; problem: RegExp }[] = [
    {
      fixture: 'compose-unknown-port.yaml',
      target: 'compose',
      problem: /users: health check port 8009 is not the service's port 8001/,
    },
    {
      fixture: 'compose-unknown-variable.yaml',
      target: 'compose',
      problem: /users: USER_SEED_FILE is not a variable the code reads/,
    },
    {
      fixture: 'compose-health-path.yaml',
      target: 'compose',
      problem: /quotes: health check path \/quotes\/healthz is not a route/,
    },
    { fixture: 'compose-latest-tag.yaml', target: 'compose', problem: /grafana: image grafana\/grafana:latest is tagged latest/ },
    { fixture: 'compose-inline-password.yaml', target: 'compose', problem: /search: REDIS_PASSWORD is written inline/ },
    {
      fixture: 'compose-missing-admin-key.yaml',
      target: 'compose',
      problem: /ops: its loadConfig refuses the environment: ADMIN_KEY must be set/,
    },
    { fixture: 'compose-unknown-target.yaml', target: 'compose', problem: /search: build target "debug" is not a stage/ },
    {
      fixture: 'compose-missing-entry.yaml',
      target: 'compose',
      problem: /quotes: the command's entry src\/services\/quotes\/main.ts does not exist/,
    },
    {
      fixture: 'compose-metrics-port.yaml',
      target: 'compose',
      problem: /job haddock-search scrapes search:8013, not search:9113/,
    },
    { fixture: 'compose-published-metrics.yaml', target: 'compose', problem: /users: publishes ports/ },
    { fixture: 'compose-writable-root.yaml', target: 'compose', problem: /quotes: read_only must be true/ },
    {
      fixture: 'compose-memory-limit.yaml',
      target: 'compose',
      problem: /users: MEMORY_LIMIT_BYTES \(268435456\) differs from the memory limit \(536870912\)/,
    },
    {
      fixture: 'compose-secret-not-granted.yaml',
      target: 'compose',
      problem: /users: REDIS_PASSWORD_FILE names \/run\/secrets\/grafana_admin_password, which is not a secret granted/,
    },
    { fixture: 'compose-redis-version.yaml', target: 'compose', problem: /redis: image redis:7.4.2 is not Redis 7.0.x/ },
    {
      fixture: 'compose-rules-not-mounted.yaml',
      target: 'compose',
      problem: /rule file \/etc\/prometheus\/rules\/alerts.yml is not a mounted file/,
    },
    {
      fixture: 'compose-traefik-route.yaml',
      target: 'traefikDynamic',
      problem: /GET \/search \(router search\): goes to quotes, the gateway sends it to search/,
    },
    {
      fixture: 'compose-traefik-rate-limit.yaml',
      target: 'traefikDynamic',
      problem: /middleware rate-limit: must be average 10, period 1m, burst 10/,
    },
    {
      fixture: 'compose-traefik-health-limited.yaml',
      target: 'traefikDynamic',
      problem: /GET \/quotes\/health \(router quotes-health\): is rate-limited, unlike the gateway/,
    },
    {
      fixture: 'compose-traefik-metrics.yaml',
      target: 'traefikDynamic',
      problem: /GET \/metrics .*a private path must not reach a service's route/,
    },
    {
      fixture: 'compose-traefik-port.yaml',
      target: 'traefikDynamic',
      problem: /traefik service ops: port 8080 is not ops's port 8004/,
    },
  ];
  for (const { fixture: name, target, problem } of cases) {
    test(`fixtures/${name} is refused: ${problem.source}`, () => {
      const problems = checkCompose(readComposeFiles(), code, { [target]: fixture(name) });
      assert.ok(
        problems.some((p) => problem.test(p)),
        `expected a problem matching ${problem}, got:\n${problems.join('\n')}`,
      );
    });
  }

  test('an .env.example without a required variable is refused', () => {
    const files = readComposeFiles();
    const envExample = files.envExample.replace(/^HADDOCK_VERSION=.*$/m, '');
    const problems = checkCompose({ ...files, envExample }, code);
    assert.ok(
      problems.some((p) => /\$\{HADDOCK_VERSION\} is required and not set/.test(p)),
      problems.join('\n'),
    );
  });

  test('a Dockerfile without the runtime stage is refused', () => {
    const files = readComposeFiles();
    const dockerfile = files.dockerfile.replace(/ AS runtime$/m, ' AS service');
    const problems = checkCompose({ ...files, dockerfile }, code);
    assert.ok(
      problems.some((p) => /users: build target "runtime" is not a stage/.test(p)),
      problems.join('\n'),
    );
  });

  test('promtool check config accepts the Prometheus file, its rule files mapped through the mounts', async (t) => {
    const { dir, remove } = await tempDir('compose-prometheus');
    t.after(remove);
    const config = parse(readFileSync(join(COMPOSE, 'prometheus', 'prometheus.yml'), 'utf8')) as { rule_files: string[] };
    // compose.yaml mounts monitoring/prometheus/rules at /etc/prometheus/rules (checkCompose proves it).
    config.rule_files = config.rule_files.map((file) => file.replace(/^\/etc\/prometheus\/rules\//, `${RULES_DIR}/`));
    const path = join(dir, 'prometheus.yml');
    await writeFile(path, stringify(config));
    const output = assertSucceeds('promtool', ['check', 'config', path]);
    assert.match(output, /SUCCESS: 2 rule files found/);
    for (const file of config.rule_files) assertSucceeds('promtool', ['check', 'rules', file]);
  });

  test('amtool check-config accepts the Alertmanager file, its token file mapped to a real file', async (t) => {
    const { dir, remove } = await tempDir('compose-alertmanager');
    t.after(remove);
    const token = join(dir, ALERT_TOKEN_SECRET);
    await writeFile(token, 'a-token-of-at-least-sixteen-characters\n');
    const text = readFileSync(join(COMPOSE, 'alertmanager', 'alertmanager.yml'), 'utf8');
    const path = join(dir, 'alertmanager.yml');
    await writeFile(path, text.replaceAll(`/run/secrets/${ALERT_TOKEN_SECRET}`, token));
    assertSucceeds('amtool', ['check-config', path]);
  });
});
