import { Document, isScalar, visit } from 'yaml';
import { ConfigError } from '../../lib/config/index.ts';
import { parseDuration } from './duration.ts';

/** What {@link renderAlertmanagerConfig} needs besides the ALERT_* variables. */
export interface AlertmanagerOptions {
  /** The platform's own webhook receiver: receives every alert, whatever else is configured. */
  readonly defaultWebhookUrl: string;
  /**
   * Sent as `Authorization: Bearer <token>` to the default webhook (the operations
   * service refuses anonymous alerts). Makes the file hold a secret.
   */
  readonly defaultWebhookToken?: string;
  /** More local receivers that get every alert too (the runner's alert log). */
  readonly extraWebhookUrls?: readonly string[];
  /** How long a new group waits for more alerts before its first notification. Default `30s`. */
  readonly groupWait?: string;
  /** How long before notifying about alerts added to a group already notified. Default `5m`. */
  readonly groupInterval?: string;
  /** How long before notifying again about a group that has not changed. Default `4h`. */
  readonly repeatInterval?: string;
}

/**
 * The variables {@link renderAlertmanagerConfig} reads. A channel is enabled
 * when its first variable (or that variable's `_FILE` twin) is set; the
 * `_FILE` twins name a file holding the secret, for Kubernetes Secrets
 * mounted as files, where Alertmanager 0.25 can read one.
 */
export const ALERT_VARIABLES = [
  'ALERT_SLACK_WEBHOOK_URL',
  'ALERT_SLACK_WEBHOOK_URL_FILE',
  'ALERT_SLACK_CHANNEL',
  'ALERT_EMAIL_TO',
  'ALERT_SMTP_SMARTHOST',
  'ALERT_SMTP_FROM',
  'ALERT_SMTP_USERNAME',
  'ALERT_SMTP_PASSWORD',
  'ALERT_SMTP_PASSWORD_FILE',
  'ALERT_PAGERDUTY_ROUTING_KEY',
  'ALERT_PAGERDUTY_ROUTING_KEY_FILE',
  'ALERT_DISCORD_WEBHOOK_URL',
  'ALERT_WEBHOOK_URL',
] as const;

/** The receivers, one per severity, each a fan-out that always includes the platform's own webhook. */
export const RECEIVERS = {
  /** Alerts without a known severity: the platform's webhook and the generic webhook. */
  default: 'haddock-default',
  /** Pager (PagerDuty), chat (Slack, Discord), email and webhooks. */
  critical: 'haddock-critical',
  /** Chat (Slack, Discord), email and webhooks. */
  warning: 'haddock-warning',
  /** Webhooks only. */
  info: 'haddock-info',
} as const;

/** The channels a set of ALERT_* variables enables. */
export type AlertChannel = 'slack' | 'email' | 'pagerduty' | 'discord' | 'webhook';

/** Alerts that a down service makes meaningless for that same service. */
const SERVICE_DOWN_TARGETS = ['HighErrorRate', 'HighLatency', 'HighLatencyP99', 'SLOErrorBudgetBurn'];
/** Alerts that a Redis outage causes in its namespace. */
const REDIS_DOWN_TARGETS = [...SERVICE_DOWN_TARGETS, 'SeedingFailed', 'RedisMemoryNearLimit', 'RedisMemoryFull'];

/** Alert names the inhibition rules refer to (they must exist in the rule files). */
export const INHIBITION_ALERT_NAMES: readonly string[] = ['ServiceDown', 'RedisDown', ...REDIS_DOWN_TARGETS];

/** A full Redis already says what "near its limit" would: one page, not two. */
const REDIS_FULL_TARGETS = ['RedisMemoryNearLimit'];

const TITLE =
  '[{{ .Status | toUpper }}{{ if eq .Status "firing" }}:{{ .Alerts.Firing | len }}{{ end }}] {{ .CommonLabels.alertname }}' +
  '{{ with .CommonLabels.service }} · {{ . }}{{ end }}{{ with .CommonLabels.namespace }} ({{ . }}){{ end }}';
const TEXT =
  '{{ range .Alerts }}{{ .Annotations.summary }}\n{{ .Annotations.description }}\n' +
  'severity: {{ .Labels.severity }}{{ with .Annotations.runbook_url }} · runbook: {{ . }}{{ end }}\n\n{{ end }}';

interface Secret {
  readonly value?: string;
  readonly file?: string;
}

interface Channels {
  slack?: { secret: Secret; channel: string | undefined };
  email?: { to: string; smarthost: string; from: string; username: string | undefined; password: Secret };
  pagerduty?: { secret: Secret };
  discord?: { url: string };
  webhook?: { url: string };
}

/** Reads the variables, listing every problem without ever quoting a secret's value. */
function readChannels(env: Record<string, string | undefined>): Channels {
  const problems: string[] = [];
  const raw = (name: string): string | undefined => {
    const value = env[name]?.trim();
    return value === undefined || value === '' ? undefined : value;
  };
  const httpUrl = (name: string): string | undefined => {
    const value = raw(name);
    if (value === undefined) return undefined;
    const ok = URL.canParse(value) && ['http:', 'https:'].includes(new URL(value).protocol);
    if (!ok) problems.push(`${name} must be an http(s) URL`);
    return value;
  };
  const secret = (name: string, read: (name: string) => string | undefined): Secret | undefined => {
    const value = read(name);
    const file = raw(`${name}_FILE`);
    if (value !== undefined && file !== undefined) problems.push(`set ${name} or ${name}_FILE, not both`);
    if (file !== undefined && !file.startsWith('/')) problems.push(`${name}_FILE must be an absolute path`);
    if (value === undefined && file === undefined) return undefined;
    return file === undefined ? { value } : { file };
  };
  const unused = (names: string[], needs: string) => {
    for (const name of names) if (raw(name) !== undefined) problems.push(`${name} is set but ${needs} is not`);
  };

  const channels: Channels = {};
  const slack = secret('ALERT_SLACK_WEBHOOK_URL', httpUrl);
  if (slack !== undefined) channels.slack = { secret: slack, channel: raw('ALERT_SLACK_CHANNEL') };
  else unused(['ALERT_SLACK_CHANNEL'], 'ALERT_SLACK_WEBHOOK_URL');

  const to = raw('ALERT_EMAIL_TO');
  const smtpVariables = ['ALERT_SMTP_SMARTHOST', 'ALERT_SMTP_FROM', 'ALERT_SMTP_USERNAME', 'ALERT_SMTP_PASSWORD'];
  if (to !== undefined) {
    if (!to.split(',').every((address) => /^[^@\s]+@[^@\s]+$/.test(address.trim()))) {
      problems.push('ALERT_EMAIL_TO must be an email address or a comma-separated list of them');
    }
    const smarthost = raw('ALERT_SMTP_SMARTHOST');
    if (smarthost === undefined) problems.push('ALERT_SMTP_SMARTHOST is required with ALERT_EMAIL_TO');
    else if (!/^(\[[0-9a-fA-F:.]+\]|[^\s:[\]]+):\d{1,5}$/.test(smarthost)) {
      problems.push('ALERT_SMTP_SMARTHOST must be host:port');
    }
    const from = raw('ALERT_SMTP_FROM');
    if (from === undefined) problems.push('ALERT_SMTP_FROM is required with ALERT_EMAIL_TO');
    else if (!/^[^@\s]+@[^@\s]+$/.test(from)) problems.push('ALERT_SMTP_FROM must be an email address');
    const username = raw('ALERT_SMTP_USERNAME');
    const password = secret('ALERT_SMTP_PASSWORD', raw) ?? {};
    if (username === undefined && (password.value !== undefined || password.file !== undefined)) {
      problems.push('ALERT_SMTP_PASSWORD needs ALERT_SMTP_USERNAME');
    }
    channels.email = { to, smarthost: smarthost ?? '', from: from ?? '', username, password };
  } else {
    unused([...smtpVariables, 'ALERT_SMTP_PASSWORD_FILE'], 'ALERT_EMAIL_TO');
  }

  const pagerduty = secret('ALERT_PAGERDUTY_ROUTING_KEY', raw);
  if (pagerduty !== undefined) channels.pagerduty = { secret: pagerduty };

  const discord = httpUrl('ALERT_DISCORD_WEBHOOK_URL');
  if (discord !== undefined) channels.discord = { url: discord };

  const webhook = httpUrl('ALERT_WEBHOOK_URL');
  if (webhook !== undefined) channels.webhook = { url: webhook };

  if (problems.length > 0) throw new ConfigError(problems);
  return channels;
}

/**
 * The channels the ALERT_* variables enable, by name only: safe to log.
 *
 * @throws ConfigError as {@link renderAlertmanagerConfig} does.
 */
export function enabledAlertChannels(env: Record<string, string | undefined>): AlertChannel[] {
  return Object.keys(readChannels(env)) as AlertChannel[];
}

function webhookConfig(url: string, bearerToken?: string) {
  return {
    url,
    send_resolved: true,
    max_alerts: 0,
    ...(bearerToken === undefined ? {} : { http_config: { authorization: { type: 'Bearer', credentials: bearerToken } } }),
  };
}

/**
 * Renders an `alertmanager.yml` for Alertmanager 0.25.
 *
 * Routing, by the alert's `severity` label: `critical` → PagerDuty, Slack,
 * Discord and email; `warning` → Slack, Discord and email; `info` → webhooks
 * only. Every receiver also sends to `opts.defaultWebhookUrl` (the platform's
 * own receiver) and to ALERT_WEBHOOK_URL when set, and an alert of any other
 * severity goes to those two: no alert is dropped silently, even with no
 * channel configured. Alerts are grouped by `alertname`, `namespace` and
 * `service`.
 *
 * Inhibition: ServiceDown mutes HighErrorRate, HighLatency, HighLatencyP99 and
 * SLOErrorBudgetBurn of the same service; RedisDown mutes those and
 * SeedingFailed and RedisMemoryNearLimit in its namespace; a critical alert
 * mutes the warning of the same alert name and service.
 *
 * Each channel is included only when its variable is set (see
 * {@link ALERT_VARIABLES}); the result may therefore hold secrets: write it
 * readable by its owner only, and never log it. Error messages name
 * variables, never their values.
 *
 * @throws ConfigError listing every bad or incomplete variable or option.
 */
export function renderAlertmanagerConfig(env: Record<string, string | undefined>, opts: AlertmanagerOptions): string {
  const problems: string[] = [];
  let channels: Channels = {};
  try {
    channels = readChannels(env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    problems.push(...err.problems);
  }
  const defaultUrl = opts.defaultWebhookUrl;
  if (!URL.canParse(defaultUrl) || !['http:', 'https:'].includes(new URL(defaultUrl).protocol)) {
    problems.push('defaultWebhookUrl must be an http(s) URL');
  }
  const timing = {
    group_wait: opts.groupWait ?? '30s',
    group_interval: opts.groupInterval ?? '5m',
    repeat_interval: opts.repeatInterval ?? '4h',
  };
  for (const [name, value] of Object.entries(timing)) {
    const ms = parseDuration(value);
    if (ms === undefined || ms <= 0) problems.push(`${name} must be a positive duration (like 30s), got "${value}"`);
  }
  if (problems.length > 0) throw new ConfigError(problems);

  for (const url of opts.extraWebhookUrls ?? []) {
    if (!URL.canParse(url) || !['http:', 'https:'].includes(new URL(url).protocol))
      problems.push('extraWebhookUrls must be http(s) URLs');
  }
  if (problems.length > 0) throw new ConfigError(problems);
  const webhooks = [
    webhookConfig(defaultUrl, opts.defaultWebhookToken),
    ...(opts.extraWebhookUrls ?? []).map((url) => webhookConfig(url)),
    ...(channels.webhook ? [webhookConfig(channels.webhook.url)] : []),
  ];
  const { slack, email, pagerduty, discord } = channels;
  const slackConfigs = slack
    ? [
        {
          ...(slack.secret.file === undefined ? { api_url: slack.secret.value } : { api_url_file: slack.secret.file }),
          ...(slack.channel === undefined ? {} : { channel: slack.channel }),
          send_resolved: true,
          title: TITLE,
          text: TEXT,
          color:
            '{{ if eq .Status "firing" }}{{ if eq .CommonLabels.severity "critical" }}danger{{ else }}warning{{ end }}{{ else }}good{{ end }}',
        },
      ]
    : [];
  const discordConfigs = discord ? [{ webhook_url: discord.url, send_resolved: true, title: TITLE, message: TEXT }] : [];
  const emailConfigs = email ? [{ to: email.to, send_resolved: true, headers: { Subject: TITLE } }] : [];
  const pagerdutyConfigs = pagerduty
    ? [
        {
          ...(pagerduty.secret.file === undefined
            ? { routing_key: pagerduty.secret.value }
            : { routing_key_file: pagerduty.secret.file }),
          send_resolved: true,
          severity: 'critical',
          description: '{{ .CommonLabels.alertname }}: {{ .CommonAnnotations.summary }}',
        },
      ]
    : [];
  // Empty lists are left out: Alertmanager accepts them, but they would read as configured channels.
  const receiver = (name: string, configs: Record<string, unknown[]>) => ({
    name,
    ...Object.fromEntries(Object.entries(configs).filter(([, list]) => list.length > 0)),
  });

  const global = email
    ? {
        smtp_smarthost: email.smarthost,
        smtp_from: email.from,
        ...(email.username === undefined ? {} : { smtp_auth_username: email.username }),
        ...(email.password.value === undefined ? {} : { smtp_auth_password: email.password.value }),
        ...(email.password.file === undefined ? {} : { smtp_auth_password_file: email.password.file }),
      }
    : undefined;

  const config = {
    ...(global === undefined ? {} : { global }),
    route: {
      receiver: RECEIVERS.default,
      group_by: ['alertname', 'namespace', 'service'],
      ...timing,
      routes: [
        { matchers: ['severity="critical"'], receiver: RECEIVERS.critical },
        { matchers: ['severity="warning"'], receiver: RECEIVERS.warning },
        { matchers: ['severity="info"'], receiver: RECEIVERS.info },
      ],
    },
    inhibit_rules: [
      {
        source_matchers: ['alertname="ServiceDown"'],
        target_matchers: [`alertname=~"${SERVICE_DOWN_TARGETS.join('|')}"`],
        equal: ['namespace', 'service'],
      },
      {
        source_matchers: ['alertname="RedisDown"'],
        target_matchers: [`alertname=~"${REDIS_DOWN_TARGETS.join('|')}"`],
        equal: ['namespace'],
      },
      {
        source_matchers: ['alertname="RedisMemoryFull"'],
        target_matchers: [`alertname=~"${REDIS_FULL_TARGETS.join('|')}"`],
        equal: ['namespace'],
      },
      {
        source_matchers: ['severity="critical"'],
        target_matchers: ['severity="warning"'],
        equal: ['alertname', 'namespace', 'service'],
      },
    ],
    receivers: [
      receiver(RECEIVERS.default, { webhook_configs: webhooks }),
      receiver(RECEIVERS.critical, {
        webhook_configs: webhooks,
        pagerduty_configs: pagerdutyConfigs,
        slack_configs: slackConfigs,
        discord_configs: discordConfigs,
        email_configs: emailConfigs,
      }),
      receiver(RECEIVERS.warning, {
        webhook_configs: webhooks,
        slack_configs: slackConfigs,
        discord_configs: discordConfigs,
        email_configs: emailConfigs,
      }),
      receiver(RECEIVERS.info, { webhook_configs: webhooks }),
    ],
  };

  const doc = new Document(config, { aliasDuplicateObjects: false });
  doc.commentBefore =
    ' Generated by renderAlertmanagerConfig (src/platform/monitoring-config) for Alertmanager 0.25:' +
    '\n change the generator or the ALERT_* variables, not this file.';
  if (discord !== undefined || channels.webhook !== undefined) {
    visit(doc, {
      Pair(_, pair) {
        if (isScalar(pair.key) && pair.key.value === 'receivers') {
          pair.key.commentBefore =
            ' Alertmanager 0.25 reads the Slack URL, the PagerDuty key and the SMTP password from files' +
            '\n (api_url_file, routing_key_file, smtp_auth_password_file) but has no file form for the' +
            "\n Discord receiver's webhook_url nor a webhook's url: those are written here. Keep this file" +
            '\n as secret as they are (a Kubernetes Secret, not a ConfigMap).';
          return visit.BREAK;
        }
        return undefined;
      },
    });
  }
  return doc.toString({ lineWidth: 0 });
}
