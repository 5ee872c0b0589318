import { type Env, EnvReader, readSecret, readServiceConfig, type ServiceConfig } from '../../lib/config/index.ts';
import { type OpsConfig, readOpsConfig } from '../../ops/config.ts';
import { parseCron } from '../../ops/schedule/cron.ts';

export interface OpsServiceConfig extends ServiceConfig {
  readonly ops: OpsConfig;
  /** When backups and their restore drill run (cron, UTC); the spec: daily at 02:00. */
  readonly backupSchedule: string;
  readonly backupScheduleEnabled: boolean;
  /** Prometheus for the KPI scorecard; unset: those rows are "unknown". */
  readonly prometheusUrl: string | undefined;
  /** Token Alertmanager sends on its webhook (`Authorization: Bearer …`); admin keys are accepted too. */
  readonly alertWebhookToken: string | undefined;
}

export function loadConfig(env: Env): OpsServiceConfig {
  const reader = new EnvReader(env);
  const base = readServiceConfig(reader, 'ops', 8004, 8014);
  // The same Redis as the service's own client: REDIS_URL is read once, with one default.
  const ops = readOpsConfig(reader, base);
  const schedule = reader.string('BACKUP_SCHEDULE', '0 2 * * *');
  try {
    parseCron(schedule);
  } catch (err) {
    reader.problem(`BACKUP_SCHEDULE: ${(err as Error).message}`);
  }
  const prometheus = reader.raw('PROMETHEUS_URL');
  if (prometheus !== undefined) reader.url('PROMETHEUS_URL', prometheus, ['http:', 'https:']);
  // Or ALERT_WEBHOOK_TOKEN_FILE: the token Alertmanager sends (its `credentials_file`), mounted as a Secret.
  const token = readSecret(reader, 'ALERT_WEBHOOK_TOKEN')?.reveal();
  if (token !== undefined && token.length < 16) reader.problem('ALERT_WEBHOOK_TOKEN must be at least 16 characters');
  const backupScheduleEnabled = reader.bool('BACKUP_SCHEDULE_ENABLED', true);
  reader.done();
  const config: OpsServiceConfig = {
    ...base,
    ops,
    backupSchedule: schedule,
    backupScheduleEnabled,
    prometheusUrl: prometheus,
    alertWebhookToken: token,
  };
  return Object.freeze(config);
}
