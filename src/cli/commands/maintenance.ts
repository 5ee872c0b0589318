import { AlertmanagerClient } from '../../ops/alertmanager-client/index.ts';
import { IncidentStore } from '../../ops/incidents/index.ts';
import {
  endMaintenance,
  MaintenanceStore,
  type MaintenanceWindow,
  parseDuration,
  sendTestAlert,
  startMaintenance,
} from '../../ops/maintenance/index.ts';
import type { CliConfig } from '../config.ts';
import { CliError } from '../errors.ts';
import { withRedis } from '../redis.ts';

function duration(text: string): number {
  try {
    return parseDuration(text);
  } catch (err) {
    throw new CliError((err as Error).message, 2);
  }
}

async function reachable<T>(what: string, url: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    const reason = (err as Error).message;
    if (/fetch failed|ECONNREFUSED|aborted|timeout/i.test(reason)) {
      throw new CliError(`${what} is not reachable at ${url}: start the platform (npm start) or set ALERTMANAGER_URL`, 1);
    }
    throw err;
  }
}

export async function maintenanceStart(
  config: CliConfig,
  input: { for: string; reason: string; by: string },
): Promise<MaintenanceWindow> {
  const durationMs = duration(input.for);
  const alertmanager = new AlertmanagerClient(config.alertmanagerUrl);
  return withRedis(config.ops.redisUrl, (redis) =>
    reachable('Alertmanager', config.alertmanagerUrl, () =>
      startMaintenance(
        {
          store: new MaintenanceStore(redis, config.ops.redisKeyPrefix),
          incidents: new IncidentStore(redis, config.ops.redisKeyPrefix),
          alertmanager,
        },
        { durationMs, reason: input.reason, by: input.by },
      ),
    ),
  );
}

export async function maintenanceEnd(config: CliConfig, id: string): Promise<MaintenanceWindow> {
  const alertmanager = new AlertmanagerClient(config.alertmanagerUrl);
  return withRedis(config.ops.redisUrl, (redis) =>
    reachable('Alertmanager', config.alertmanagerUrl, () =>
      endMaintenance({ store: new MaintenanceStore(redis, config.ops.redisKeyPrefix), alertmanager }, id).catch((err: Error) => {
        if (/no maintenance window/.test(err.message)) throw new CliError(err.message, 1);
        throw err;
      }),
    ),
  );
}

export async function maintenanceList(config: CliConfig): Promise<MaintenanceWindow[]> {
  return withRedis(config.ops.redisUrl, (redis) => new MaintenanceStore(redis, config.ops.redisKeyPrefix).list());
}

export async function alertTest(config: CliConfig, by: string): Promise<{ alertname: string; receivers: string[] }> {
  return reachable('Alertmanager', config.alertmanagerUrl, () =>
    sendTestAlert(new AlertmanagerClient(config.alertmanagerUrl), by),
  );
}
