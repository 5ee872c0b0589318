import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { parse } from 'yaml';
import { ConfigError } from '../../src/lib/config/index.ts';
import {
  ALERTMANAGER_EXAMPLE_FILE,
  EXAMPLE_ALERT_ENV,
  renderAlertmanagerExample,
} from '../../src/platform/monitoring-config/examples.ts';
import {
  ALERT_VARIABLES,
  type AlertmanagerOptions,
  alertingRules,
  enabledAlertChannels,
  INHIBITION_ALERT_NAMES,
  RECEIVERS,
  renderAlertmanagerConfig,
  ruleFilePaths,
} from '../../src/platform/monitoring-config/index.ts';
import { assertSucceeds, tempDir } from './tools.ts';

const DEFAULT_WEBHOOK = 'http://127.0.0.1:9095/alerts';

/** Every ALERT_* variable with a value; the secrets are easy to search for. */
const FULL_ENV = {
  ALERT_SLACK_WEBHOOK_URL: 'https://hooks.slack.com/services/T000/B000/slack-secret-123',
  ALERT_SLACK_CHANNEL: '#haddock-alerts',
  ALERT_EMAIL_TO: 'oncall@example.org, boss@example.org',
  ALERT_SMTP_SMARTHOST: 'smtp.example.org:587',
  ALERT_SMTP_FROM: 'alertmanager@example.org',
  ALERT_SMTP_USERNAME: 'alertmanager',
  ALERT_SMTP_PASSWORD: 'smtp-secret-456',
  ALERT_PAGERDUTY_ROUTING_KEY: 'pagerduty-secret-789',
  ALERT_DISCORD_WEBHOOK_URL: 'https://discord.com/api/webhooks/1/discord-secret-abc',
  ALERT_WEBHOOK_URL: 'https://relay.example.org/hook-secret-def',
};
const SECRETS = ['slack-secret-123', 'smtp-secret-456', 'pagerduty-secret-789', 'discord-secret-abc', 'hook-secret-def'];

interface Receiver {
  name: string;
  webhook_configs?: { url: string; send_resolved: boolean }[];
  slack_configs?: { api_url?: string; api_url_file?: string; channel?: string }[];
  email_configs?: { to: string }[];
  pagerduty_configs?: { routing_key?: string; routing_key_file?: string }[];
  discord_configs?: { webhook_url: string }[];
}
interface AlertmanagerConfig {
  global?: Record<string, string>;
  route: { receiver: string; group_by: string[]; routes: { matchers: string[]; receiver: string; continue?: boolean }[] };
  inhibit_rules: { source_matchers: string[]; target_matchers: string[]; equal: string[] }[];
  receivers: Receiver[];
}

async function amtoolCheck(text: string): Promise<void> {
  const { dir, remove } = await tempDir('alertmanager');
  try {
    const file = join(dir, 'alertmanager.yml');
    await writeFile(file, text);
    assertSucceeds('amtool', ['check-config', file]);
  } finally {
    await remove();
  }
}

function receiver(config: AlertmanagerConfig, name: string): Receiver {
  const found = config.receivers.find((r) => r.name === name);
  assert.ok(found, `no receiver ${name}`);
  return found;
}

function integrations(r: Receiver): string[] {
  return Object.keys(r)
    .filter((k) => k.endsWith('_configs'))
    .sort();
}

test('renderAlertmanagerConfig with no ALERT_* variable: only the default webhook, valid for amtool', async () => {
  const text = renderAlertmanagerConfig({}, { defaultWebhookUrl: DEFAULT_WEBHOOK });
  const config = parse(text) as AlertmanagerConfig;
  assert.equal(config.route.receiver, RECEIVERS.default);
  assert.equal(config.global, undefined);
  assert.deepEqual(config.receivers.map((r) => r.name).sort(), Object.values(RECEIVERS).sort());
  for (const r of config.receivers) {
    assert.deepEqual(integrations(r), ['webhook_configs'], r.name);
    assert.deepEqual(
      r.webhook_configs?.map((w) => w.url),
      [DEFAULT_WEBHOOK],
    );
    assert.equal(r.webhook_configs?.[0]?.send_resolved, true);
  }
  await amtoolCheck(text);
});

test('every severity is routed to a receiver that includes the default webhook', () => {
  const config = parse(renderAlertmanagerConfig(FULL_ENV, { defaultWebhookUrl: DEFAULT_WEBHOOK })) as AlertmanagerConfig;
  const routed = Object.fromEntries(config.route.routes.map((r) => [r.matchers.join(','), r.receiver]));
  assert.deepEqual(routed, {
    'severity="critical"': RECEIVERS.critical,
    'severity="warning"': RECEIVERS.warning,
    'severity="info"': RECEIVERS.info,
  });
  for (const r of config.receivers) {
    assert.ok(
      r.webhook_configs?.some((w) => w.url === DEFAULT_WEBHOOK),
      `${r.name} does not send to the default webhook`,
    );
  }
  assert.deepEqual(config.route.group_by, ['alertname', 'namespace', 'service']);
});

test('renderAlertmanagerConfig with every ALERT_* variable: every channel, where its severity goes, valid for amtool', async () => {
  const text = renderAlertmanagerConfig(FULL_ENV, { defaultWebhookUrl: DEFAULT_WEBHOOK, groupWait: '1s', repeatInterval: '1m' });
  const config = parse(text) as AlertmanagerConfig;
  assert.deepEqual(integrations(receiver(config, RECEIVERS.critical)), [
    'discord_configs',
    'email_configs',
    'pagerduty_configs',
    'slack_configs',
    'webhook_configs',
  ]);
  assert.deepEqual(integrations(receiver(config, RECEIVERS.warning)), [
    'discord_configs',
    'email_configs',
    'slack_configs',
    'webhook_configs',
  ]);
  assert.deepEqual(integrations(receiver(config, RECEIVERS.info)), ['webhook_configs']);
  assert.deepEqual(integrations(receiver(config, RECEIVERS.default)), ['webhook_configs']);
  for (const r of config.receivers) {
    assert.deepEqual(
      r.webhook_configs?.map((w) => w.url),
      [DEFAULT_WEBHOOK, FULL_ENV.ALERT_WEBHOOK_URL],
    );
  }
  const critical = receiver(config, RECEIVERS.critical);
  assert.equal(critical.slack_configs?.[0]?.api_url, FULL_ENV.ALERT_SLACK_WEBHOOK_URL);
  assert.equal(critical.slack_configs?.[0]?.channel, '#haddock-alerts');
  assert.equal(critical.pagerduty_configs?.[0]?.routing_key, FULL_ENV.ALERT_PAGERDUTY_ROUTING_KEY);
  assert.equal(critical.discord_configs?.[0]?.webhook_url, FULL_ENV.ALERT_DISCORD_WEBHOOK_URL);
  assert.equal(critical.email_configs?.[0]?.to, FULL_ENV.ALERT_EMAIL_TO);
  assert.deepEqual(config.global, {
    smtp_smarthost: 'smtp.example.org:587',
    smtp_from: 'alertmanager@example.org',
    smtp_auth_username: 'alertmanager',
    smtp_auth_password: 'smtp-secret-456',
  });
  assert.deepEqual(enabledAlertChannels(FULL_ENV).sort(), ['discord', 'email', 'pagerduty', 'slack', 'webhook']);
  await amtoolCheck(text);
});

test('*_FILE variables put secrets in files Alertmanager reads, never in the configuration', async () => {
  const env = {
    ...FULL_ENV,
    ALERT_SLACK_WEBHOOK_URL: undefined,
    ALERT_SLACK_WEBHOOK_URL_FILE: '/run/secrets/slack',
    ALERT_SMTP_PASSWORD: undefined,
    ALERT_SMTP_PASSWORD_FILE: '/run/secrets/smtp',
    ALERT_PAGERDUTY_ROUTING_KEY: undefined,
    ALERT_PAGERDUTY_ROUTING_KEY_FILE: '/run/secrets/pagerduty',
  };
  const text = renderAlertmanagerConfig(env, { defaultWebhookUrl: DEFAULT_WEBHOOK });
  const config = parse(text) as AlertmanagerConfig;
  const critical = receiver(config, RECEIVERS.critical);
  assert.deepEqual(critical.slack_configs?.[0]?.api_url_file, '/run/secrets/slack');
  assert.equal(critical.slack_configs?.[0]?.api_url, undefined);
  assert.equal(critical.pagerduty_configs?.[0]?.routing_key_file, '/run/secrets/pagerduty');
  assert.equal(critical.pagerduty_configs?.[0]?.routing_key, undefined);
  assert.equal(config.global?.smtp_auth_password_file, '/run/secrets/smtp');
  assert.equal(config.global?.smtp_auth_password, undefined);
  for (const secret of ['slack-secret-123', 'smtp-secret-456', 'pagerduty-secret-789']) assert.ok(!text.includes(secret), secret);
  await amtoolCheck(text);
});

test('the default-only configuration holds no secret of the environment', () => {
  const env = {
    ADMIN_KEY: 'admin-secret-key-0123456789',
    REDIS_URL: 'redis://:redis-secret@127.0.0.1:6379',
    ALERT_SINK_PORT: '9095',
    PATH: '/usr/bin',
  };
  const text = renderAlertmanagerConfig(env, { defaultWebhookUrl: DEFAULT_WEBHOOK });
  for (const value of ['admin-secret-key-0123456789', 'redis-secret', ...SECRETS]) assert.ok(!text.includes(value), value);
  assert.deepEqual(enabledAlertChannels(env), []);
});

function problemsOf(
  env: Record<string, string | undefined>,
  opts: AlertmanagerOptions = { defaultWebhookUrl: DEFAULT_WEBHOOK },
): string[] {
  try {
    renderAlertmanagerConfig(env, opts);
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return [...err.problems];
  }
  assert.fail('renderAlertmanagerConfig accepted a bad configuration');
}

const badCases: ReadonlyArray<{ name: string; env: Record<string, string>; problems: RegExp[] }> = [
  {
    name: 'email without its SMTP server and sender',
    env: { ALERT_EMAIL_TO: 'oncall@example.org' },
    problems: [/ALERT_SMTP_SMARTHOST is required/, /ALERT_SMTP_FROM is required/],
  },
  {
    name: 'a smarthost without a port and a malformed address',
    env: { ALERT_EMAIL_TO: 'not-an-address', ALERT_SMTP_SMARTHOST: 'smtp.example.org', ALERT_SMTP_FROM: 'a@b.c' },
    problems: [/ALERT_EMAIL_TO must be an email address/, /ALERT_SMTP_SMARTHOST must be host:port/],
  },
  {
    name: 'SMTP settings without a recipient',
    env: { ALERT_SMTP_SMARTHOST: 'smtp.example.org:587' },
    problems: [/ALERT_SMTP_SMARTHOST is set but ALERT_EMAIL_TO is not/],
  },
  {
    name: 'a Slack channel without a Slack webhook',
    env: { ALERT_SLACK_CHANNEL: '#ops' },
    problems: [/ALERT_SLACK_CHANNEL is set but ALERT_SLACK_WEBHOOK_URL is not/],
  },
  {
    name: 'a secret given both inline and as a file',
    env: { ALERT_PAGERDUTY_ROUTING_KEY: 'pagerduty-secret-789', ALERT_PAGERDUTY_ROUTING_KEY_FILE: '/run/secrets/pd' },
    problems: [/set ALERT_PAGERDUTY_ROUTING_KEY or ALERT_PAGERDUTY_ROUTING_KEY_FILE, not both/],
  },
  {
    name: 'URLs that are not http(s)',
    env: { ALERT_SLACK_WEBHOOK_URL: 'slack-secret-123', ALERT_DISCORD_WEBHOOK_URL: 'ftp://discord-secret-abc' },
    problems: [/ALERT_SLACK_WEBHOOK_URL must be an http\(s\) URL/, /ALERT_DISCORD_WEBHOOK_URL must be an http\(s\) URL/],
  },
];
for (const { name, env, problems } of badCases) {
  test(`renderAlertmanagerConfig refuses ${name}, listing every problem without a secret`, () => {
    const found = problemsOf(env);
    for (const problem of problems)
      assert.ok(
        found.some((p) => problem.test(p)),
        `${problem} not in ${found.join(' | ')}`,
      );
    assert.equal(found.length, problems.length, found.join(' | '));
    for (const secret of SECRETS) assert.ok(!found.join('\n').includes(secret), `a problem quotes ${secret}`);
  });
}

test('renderAlertmanagerConfig refuses bad timings and a bad default webhook', () => {
  const found = problemsOf({}, { defaultWebhookUrl: 'localhost:9095', groupWait: 'soon' });
  assert.ok(found.some((p) => /defaultWebhookUrl must be an http\(s\) URL/.test(p)));
  assert.ok(found.some((p) => /group_wait must be a positive duration/.test(p)));
});

test('ALERT_VARIABLES lists every variable the renderer reads', () => {
  const everything = Object.fromEntries(ALERT_VARIABLES.map((name) => [name, 'x']));
  assert.ok(ALERT_VARIABLES.every((name) => name.startsWith('ALERT_')));
  for (const name of Object.keys(FULL_ENV)) assert.ok(name in everything, name);
});

test('inhibition: ServiceDown and RedisDown mute their consequences, critical mutes warning', async () => {
  const config = parse(renderAlertmanagerConfig({}, { defaultWebhookUrl: DEFAULT_WEBHOOK })) as AlertmanagerConfig;
  const rules = Object.fromEntries(config.inhibit_rules.map((r) => [r.source_matchers.join(','), r]));
  const serviceDown = rules['alertname="ServiceDown"'];
  assert.ok(serviceDown);
  assert.deepEqual(serviceDown.equal, ['namespace', 'service']);
  for (const name of ['HighErrorRate', 'HighLatency', 'HighLatencyP99', 'SLOErrorBudgetBurn']) {
    assert.match(serviceDown.target_matchers.join(), new RegExp(`[~"|]${name}[|"]`), name);
  }
  const redisDown = rules['alertname="RedisDown"'];
  assert.ok(redisDown);
  assert.deepEqual(redisDown.equal, ['namespace']);
  assert.doesNotMatch(redisDown.target_matchers.join(), /RedisDown|ServiceDown/);
  const bySeverity = rules['severity="critical"'];
  assert.deepEqual(bySeverity?.target_matchers, ['severity="warning"']);
  assert.deepEqual(bySeverity?.equal, ['alertname', 'namespace', 'service']);

  const alertNames = new Set(
    (await Promise.all((await ruleFilePaths()).map((f) => readFile(f, 'utf8')))).flatMap(alertingRules).map((r) => r.alert),
  );
  for (const name of INHIBITION_ALERT_NAMES) assert.ok(alertNames.has(name), `inhibition names ${name}, which no rule defines`);
});

test('the committed alertmanager.example.yml is what the renderer writes, and amtool accepts it', async () => {
  const committed = await readFile(ALERTMANAGER_EXAMPLE_FILE, 'utf8');
  assert.equal(committed, renderAlertmanagerExample(), 'run: node --import tsx src/platform/monitoring-config/write-examples.ts');
  assert.deepEqual(enabledAlertChannels(EXAMPLE_ALERT_ENV).sort(), ['discord', 'email', 'pagerduty', 'slack', 'webhook']);
  assert.match(committed, /api_url_file: /);
  assert.match(committed, /routing_key_file: /);
  assert.match(committed, /smtp_auth_password_file: /);
  assert.match(committed, /no file form for the\n# Discord receiver's webhook_url/);
  await amtoolCheck(committed);
});
