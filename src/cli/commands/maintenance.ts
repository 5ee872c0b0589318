import { AppError, appError } from '../../lib/errors/index.ts';
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
import { withRedis } from '../redis.ts';

/** Adds what the operator can do to the client's UPSTREAM_UNAVAILABLE. */
async function reachable<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (err instanceof AppError && err.code === 'UPSTREAM_UNAVAILABLE') {
      const detail = `${err.detail}: start the platform (npm start) or set ALERTMANAGER_URL`;
      throw appError('UPSTREAM_UNAVAILABLE', { detail, cause: err });
    }
    throw err;
  }
}

export async function maintenanceStart(
  config: CliConfig,
  input: { for: string; reason: string; by: string },
): Promise<MaintenanceWindow> {
  const durationMs = parseDuration(input.for);
  const alertmanager = new AlertmanagerClient(config.alertmanagerUrl);
  return withRedis(config.ops.redis, (redis) =>
    reachable(() =>
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
  return withRedis(config.ops.redis, (redis) =>
    reachable(() => endMaintenance({ store: new MaintenanceStore(redis, config.ops.redisKeyPrefix), alertmanager }, id)),
  );
}

export async function maintenanceList(config: CliConfig): Promise<MaintenanceWindow[]> {
  return withRedis(config.ops.redis, (redis) => new MaintenanceStore(redis, config.ops.redisKeyPrefix).list());
}

export async function alertTest(config: CliConfig, by: string): Promise<{ alertname: string; receivers: string[] }> {
  return reachable(() => sendTestAlert(new AlertmanagerClient(config.alertmanagerUrl), by));
}
