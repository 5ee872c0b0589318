import { join } from 'node:path';
import { renderAlertmanagerConfig } from './alertmanager-config.ts';
import { MONITORING_DIR } from './paths.ts';

/**
 * The ALERT_* variables of the committed Alertmanager example: every channel
 * on, secrets read from files mounted from a Kubernetes Secret wherever
 * Alertmanager 0.25 can read them from a file. The values are placeholders.
 */
export const EXAMPLE_ALERT_ENV: Readonly<Record<string, string>> = {
  ALERT_SLACK_WEBHOOK_URL_FILE: '/etc/alertmanager/secrets/slack-webhook-url',
  ALERT_SLACK_CHANNEL: '#haddock-alerts',
  ALERT_EMAIL_TO: 'haddock-oncall@example.org',
  ALERT_SMTP_SMARTHOST: 'smtp.example.org:587',
  ALERT_SMTP_FROM: 'alertmanager@example.org',
  ALERT_SMTP_USERNAME: 'alertmanager@example.org',
  ALERT_SMTP_PASSWORD_FILE: '/etc/alertmanager/secrets/smtp-password',
  ALERT_PAGERDUTY_ROUTING_KEY_FILE: '/etc/alertmanager/secrets/pagerduty-routing-key',
  ALERT_DISCORD_WEBHOOK_URL: 'https://discord.com/api/webhooks/000000000000000000/REPLACE-ME',
  ALERT_WEBHOOK_URL: 'https://alerts-relay.example.org/haddock',
};

/** The platform's own receiver in the example: the alert sink of the `haddock` namespace. */
export const EXAMPLE_DEFAULT_WEBHOOK_URL = 'http://alert-sink.haddock.svc:9095/alerts';

/** Where the rendered example is committed. */
export const ALERTMANAGER_EXAMPLE_FILE = join(MONITORING_DIR, 'alertmanager', 'alertmanager.example.yml');

/** The committed Alertmanager example, as {@link renderAlertmanagerConfig} renders it today. */
export function renderAlertmanagerExample(): string {
  return renderAlertmanagerConfig(EXAMPLE_ALERT_ENV, { defaultWebhookUrl: EXAMPLE_DEFAULT_WEBHOOK_URL });
}
