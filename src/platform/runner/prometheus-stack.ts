import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { prepareRuleFiles, renderAlertmanagerConfig, renderPrometheusConfig } from '../monitoring-config/index.ts';
import type { ChildSpec } from './child.ts';
import { alertVariables, type RunnerConfig } from './config.ts';
import { MONITORING_MISSING_NOTICE, monitoringRequiredMessage, PlatformError } from './errors.ts';
import { assertPortFree, httpProbe } from './probes.ts';
import { findExecutable } from './processes.ts';

/** The monitoring binaries the runner will start (none when MONITORING=off). */
export interface MonitoringBinaries {
  readonly prometheus: string | undefined;
  readonly alertmanager: string | undefined;
}

/** Upstream's name first, then Debian's (`apt-get install prometheus-alertmanager`). */
const ALERTMANAGER_NAMES = ['alertmanager', 'prometheus-alertmanager'];

/**
 * Which of Prometheus and Alertmanager to start, by MONITORING: `off` none;
 * `auto` those found on PATH, with `notice` set when one is missing; `on`
 * both, or a PlatformError naming the install command.
 */
export function resolveMonitoring(config: RunnerConfig): MonitoringBinaries & { readonly notice?: string } {
  if (config.monitoring.mode === 'off') return { prometheus: undefined, alertmanager: undefined };
  const path = config.env.PATH;
  const found: MonitoringBinaries = {
    prometheus: findExecutable('prometheus', path),
    alertmanager: ALERTMANAGER_NAMES.map((name) => findExecutable(name, path)).find((file) => file !== undefined),
  };
  const missing = Object.entries(found).flatMap(([name, file]) => (file === undefined ? [name] : []));
  if (missing.length === 0) return found;
  if (config.monitoring.mode === 'on') throw new PlatformError(monitoringRequiredMessage(missing));
  return { ...found, notice: MONITORING_MISSING_NOTICE };
}

/** Where the runner writes what it generates for the monitoring children. */
export function monitoringPaths(varDir: string) {
  const dir = join(varDir, 'monitoring');
  return {
    dir,
    rulesDir: join(dir, 'rules'),
    prometheusConfig: join(dir, 'prometheus.yml'),
    alertmanagerConfig: join(dir, 'alertmanager.yml'),
    prometheusData: join(varDir, 'prometheus'),
    alertmanagerData: join(varDir, 'alertmanager'),
  };
}

/**
 * The scrape jobs: every process on its private metrics listener (the services' METRICS_PORT, the gateway's
 * GATEWAY_METRICS_PORT), never on a public port, where `/metrics` is a 404.
 */
export function scrapeTargets(config: RunnerConfig, serviceMetricsHost: string, gatewayMetricsHost: string) {
  return [
    { job: 'haddock-users', address: `${serviceMetricsHost}:${config.ports.usersMetrics}` },
    { job: 'haddock-quotes', address: `${serviceMetricsHost}:${config.ports.quotesMetrics}` },
    { job: 'haddock-search', address: `${serviceMetricsHost}:${config.ports.searchMetrics}` },
    { job: 'haddock-ops', address: `${serviceMetricsHost}:${config.ports.opsMetrics}` },
    { job: 'haddock-gateway', address: `${gatewayMetricsHost}:${config.ports.gatewayMetrics}` },
  ];
}

async function writePrometheusConfig(
  config: RunnerConfig,
  targets: { job: string; address: string }[],
  alertmanagerUrl: string | undefined,
): Promise<void> {
  const paths = monitoringPaths(config.varDir);
  await mkdir(paths.rulesDir, { recursive: true });
  const ruleFiles = await prepareRuleFiles(paths.rulesDir, config.monitoring.profile);
  const text = renderPrometheusConfig({
    scrapeInterval: config.monitoring.scrapeInterval,
    evaluationInterval: config.monitoring.evaluationInterval,
    namespace: config.monitoring.namespace,
    targets,
    ruleFiles,
    ...(alertmanagerUrl === undefined ? {} : { alertmanagerUrl }),
  });
  await writeFile(paths.prometheusConfig, text);
}

async function writeAlertmanagerConfig(config: RunnerConfig, defaultWebhookUrl: string, alertLogUrl: string): Promise<void> {
  const paths = monitoringPaths(config.varDir);
  await mkdir(paths.dir, { recursive: true });
  const { groupWait, groupInterval, repeatInterval } = config.monitoring;
  const text = renderAlertmanagerConfig(alertVariables(config.env), {
    defaultWebhookUrl,
    defaultWebhookToken: config.alertWebhookToken,
    extraWebhookUrls: [alertLogUrl],
    groupWait,
    ...(groupInterval === undefined ? {} : { groupInterval }),
    ...(repeatInterval === undefined ? {} : { repeatInterval }),
  });
  // It may hold receivers' secrets (ALERT_* variables): readable by the owner only.
  await writeFile(paths.alertmanagerConfig, text, { mode: 0o600 });
  await chmod(paths.alertmanagerConfig, 0o600);
}

/** A configuration that cannot be written is a start-up failure with one clear message. */
async function writing(what: string, write: () => Promise<void>): Promise<void> {
  try {
    await write();
  } catch (err) {
    throw new PlatformError(`cannot write the ${what} configuration: ${err instanceof Error ? err.message : String(err)}`, {
      cause: err,
    });
  }
}

export interface MonitoringChildOptions {
  readonly binaries: MonitoringBinaries;
  readonly targets: { job: string; address: string }[];
  readonly alertSinkUrl: string;
  /** The operations service: Alertmanager's default receiver (alerts become incidents). */
  readonly opsUrl: string;
  /** The log and pid files of a child, as every other child gets them. */
  readonly files: (name: string) => { logFile: string; pidFile: string };
  readonly alertmanagerTier: number;
  readonly prometheusTier: number;
}

/**
 * Alertmanager then Prometheus, each writing its configuration just before
 * it starts (B's renderers, this run's ports and profile), both on the
 * loopback interface. Prometheus is the last to start and the first to stop,
 * so a platform shutting down never looks like an outage.
 */
export function monitoringChildren(config: RunnerConfig, options: MonitoringChildOptions): ChildSpec[] {
  const { binaries, files } = options;
  const paths = monitoringPaths(config.varDir);
  const children: ChildSpec[] = [];
  const alertmanagerPort = config.ports.alertmanager;
  const alertmanagerUrl = binaries.alertmanager === undefined ? undefined : `http://127.0.0.1:${alertmanagerPort}`;
  // Both exit 1 on a bad configuration or an unusable data directory: restarting will not help.
  const fatalExitCodes = [1];
  const stopTimeoutMs = Math.max(config.stopTimeoutMs, 30_000);

  if (binaries.alertmanager !== undefined) {
    children.push({
      name: 'alertmanager',
      command: binaries.alertmanager,
      args: [
        `--config.file=${paths.alertmanagerConfig}`,
        `--storage.path=${paths.alertmanagerData}`,
        `--web.listen-address=127.0.0.1:${alertmanagerPort}`,
        // Empty: no gossip port, no clustering with another Alertmanager on this machine.
        '--cluster.listen-address=',
        '--log.format=json',
      ],
      env: config.env,
      cwd: config.home,
      ...files('alertmanager'),
      identity: `--storage.path=${paths.alertmanagerData}`,
      tier: options.alertmanagerTier,
      probe: httpProbe(`http://127.0.0.1:${alertmanagerPort}/-/ready`),
      prepare: async () => {
        await assertPortFree('127.0.0.1', alertmanagerPort, 'alertmanager');
        await writing('Alertmanager', () =>
          writeAlertmanagerConfig(config, `${options.opsUrl}/ops/alerts`, `${options.alertSinkUrl}/alerts`),
        );
      },
      stopTimeoutMs,
      fatalExitCodes,
    });
  }
  if (binaries.prometheus !== undefined) {
    const port = config.ports.prometheus;
    children.push({
      name: 'prometheus',
      command: binaries.prometheus,
      args: [
        `--config.file=${paths.prometheusConfig}`,
        `--storage.tsdb.path=${paths.prometheusData}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--storage.tsdb.retention.time=7d',
        '--web.enable-lifecycle',
        '--log.format=json',
      ],
      env: config.env,
      cwd: config.home,
      ...files('prometheus'),
      identity: `--storage.tsdb.path=${paths.prometheusData}`,
      tier: options.prometheusTier,
      probe: httpProbe(`http://127.0.0.1:${port}/-/ready`),
      prepare: async () => {
        await assertPortFree('127.0.0.1', port, 'prometheus');
        await writing('Prometheus', () => writePrometheusConfig(config, options.targets, alertmanagerUrl));
      },
      stopTimeoutMs,
      fatalExitCodes,
    });
  }
  return children;
}
