import { listBackups } from '../../ops/backup/index.ts';
import { IncidentStore } from '../../ops/incidents/index.ts';
import { parseWindow } from '../../ops/kpi/prometheus.ts';
import { buildScorecard, type Scorecard } from '../../ops/kpi/scorecard.ts';
import { MaintenanceStore } from '../../ops/maintenance/index.ts';
import { PrometheusClient } from '../../ops/prometheus/index.ts';
import type { CliConfig } from '../config.ts';
import { withRedis } from '../redis.ts';

/** `haddock kpi --since 24h`: the spec's KPI tables measured over the window. */
export async function kpiCommand(config: CliConfig, since: string, now = new Date()): Promise<Scorecard> {
  // A bad window is the operator's typing: refused (WINDOW_INVALID) before any connection is made.
  parseWindow(since);
  // Always handed over: the scorecard tells an unreachable Prometheus (with the error) from one not configured.
  const prometheus = new PrometheusClient(config.prometheusUrl, 5_000);
  const card = await withRedis(config.ops.redis, async (redis) =>
    buildScorecard({
      window: since,
      now,
      prometheus,
      incidents: await new IncidentStore(redis, config.ops.redisKeyPrefix).list(),
      backups: await listBackups(config.ops),
      maintenance: await new MaintenanceStore(redis, config.ops.redisKeyPrefix).list(),
    }),
  );
  // Prometheus down is not a failure of the command (exit 0): its rows are `unknown`, the incident and backup rows
  // still measured; the note says which address was asked, the one thing to check from a container.
  const asked = `PROMETHEUS_URL ${config.prometheusUrl}`;
  const rows = card.rows.map((row) =>
    row.source === 'prometheus' && row.status === 'unknown' && row.note !== undefined
      ? { ...row, note: `${asked}: ${row.note}` }
      : row,
  );
  return { ...card, rows };
}
