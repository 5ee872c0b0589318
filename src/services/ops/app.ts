import type { FastifyInstance } from 'fastify';
import { AppError } from '../../lib/errors/index.ts';
import { scrapeGauge } from '../../lib/metrics/index.ts';
import { type BuildOptions, buildService } from '../../lib/service/index.ts';
import { type BackupManifest, backupSucceeded, listBackups, runScheduledBackup } from '../../ops/backup/index.ts';
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
      setup: ({ app, redis, auth, metrics }) => {
        const incidents = new IncidentStore(redis, config.redisKeyPrefix);
        // Read from the backup folder at scrape time: the CLI, the schedule and
        // the API all write manifests there, and a restarted service forgets nothing.
        const newest = async (pick: (m: BackupManifest) => string | undefined) => {
          const times = (await listBackups(config.ops)).map(pick).filter((t): t is string => t !== undefined);
          return times.length === 0 ? 0 : Math.max(...times.map((t) => Date.parse(t) / 1000));
        };
        const latest = async () => (await listBackups(config.ops))[0];
        scrapeGauge({
          registry: metrics,
          name: 'haddock_backup_last_success_timestamp_seconds',
          help: 'When the newest backup whose restore drill did not fail was taken (Unix time; 0 when there is none)',
          read: () => newest((m) => (backupSucceeded(m) ? m.created_at : undefined)),
        });
        scrapeGauge({
          registry: metrics,
          name: 'haddock_backup_last_failure_timestamp_seconds',
          help: 'When the newest backup whose restore drill failed was taken (Unix time; 0 when none has failed)',
          read: () => newest((m) => (backupSucceeded(m) ? undefined : m.created_at)),
        });
        scrapeGauge({
          registry: metrics,
          name: 'haddock_backup_last_verified_timestamp_seconds',
          help: 'When a restore drill last passed (Unix time; 0 when none has)',
          read: () => newest((m) => (m.verification?.ok ? m.verification.at : undefined)),
        });
        scrapeGauge({
          registry: metrics,
          name: 'haddock_backup_last_size_bytes',
          help: 'Size of the newest backup file',
          read: async () => (await latest())?.bytes ?? 0,
        });
        scrapeGauge({
          registry: metrics,
          name: 'haddock_backup_last_duration_seconds',
          help: 'How long the newest backup took (snapshot and inventory)',
          read: async () => ((await latest())?.duration_ms ?? 0) / 1000,
        });
        scrapeGauge({
          registry: metrics,
          name: 'haddock_incidents_open',
          help: 'Incidents not yet resolved',
          read: async () => (await incidents.list()).filter((i) => i.status !== 'resolved').length,
        });
        const maintenance = new MaintenanceStore(redis, config.redisKeyPrefix);
        const prometheus = config.prometheusUrl === undefined ? undefined : new PrometheusClient(config.prometheusUrl);
        const onBackupsChanged = async () => undefined;

        if (config.backupScheduleEnabled) {
          const runner = new CronRunner(
            config.backupSchedule,
            async () => {
              try {
                // One lock for the backup, its drill and the prune: another replica's run, or the CLI's, waits for none of it.
                const { backup: verified, pruned } = await runScheduledBackup(config.ops);
                await onBackupsChanged();
                const fields = {
                  backup: verified.id,
                  bytes: verified.bytes,
                  drillOk: verified.verification?.ok,
                  pruned: pruned.remove.map((m) => m.id),
                };
                if (verified.verification?.ok === true) app.log.info(fields, 'scheduled backup done');
                else app.log.error({ ...fields, problems: verified.verification?.problems }, 'scheduled backup failed its drill');
              } catch (err) {
                // Replicas share the schedule: the first one takes the backup, the others find the lock held.
                if (err instanceof AppError && err.code === 'BACKUP_IN_PROGRESS') {
                  app.log.info({ detail: err.detail }, 'scheduled backup skipped: another one is running');
                  return;
                }
                throw err;
              }
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
