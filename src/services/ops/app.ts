import type { FastifyInstance } from 'fastify';
import { type BuildOptions, buildService } from '../../lib/service/index.ts';
import { pruneBackups, takeBackup, verifyBackup } from '../../ops/backup/index.ts';
import { IncidentStore } from '../../ops/incidents/index.ts';
import { MaintenanceStore } from '../../ops/maintenance/index.ts';
import { PrometheusClient } from '../../ops/prometheus/index.ts';
import type { OpsServiceConfig } from './config.ts';
import { opsRoutes } from './routes.ts';
import { CronRunner } from './scheduler.ts';

/**
 * The operations service: Alertmanager's default receiver (alerts become
 * incidents), the incident and KPI API, and the scheduled backups with their
 * restore drill. Ready to `inject` or `listen`.
 */
export async function buildApp(config: OpsServiceConfig, options: BuildOptions = {}): Promise<FastifyInstance> {
  return buildService(
    config,
    {
      basePath: '/ops',
      setup: ({ app, redis, auth }) => {
        const incidents = new IncidentStore(redis, config.redisKeyPrefix);
        const maintenance = new MaintenanceStore(redis, config.redisKeyPrefix);
        const prometheus = config.prometheusUrl === undefined ? undefined : new PrometheusClient(config.prometheusUrl);
        const onBackupsChanged = async () => undefined;

        if (config.backupScheduleEnabled && !options.docsOnly) {
          const runner = new CronRunner(
            config.backupSchedule,
            async () => {
              const manifest = await takeBackup(config.ops, { kind: 'scheduled' });
              const verified = await verifyBackup(config.ops, manifest.id);
              const pruned = await pruneBackups(config.ops);
              await onBackupsChanged();
              app.log.info(
                {
                  backup: manifest.id,
                  bytes: manifest.bytes,
                  drillOk: verified.verification?.ok,
                  pruned: pruned.remove.map((m) => m.id),
                },
                'scheduled backup done',
              );
            },
            app.log,
          );
          app.addHook('onReady', async () => {
            runner.start();
            app.log.info({ schedule: config.backupSchedule, next: runner.nextRun().toISOString() }, 'backup schedule armed');
          });
          app.addHook('onClose', async () => runner.stop());
        }
        return {
          routes: () => app.register(opsRoutes, { config, incidents, maintenance, prometheus, auth, onBackupsChanged }),
        };
      },
    },
    options,
  );
}
