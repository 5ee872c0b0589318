import { Document } from 'yaml';
import { ConfigError } from '../../lib/config/index.ts';
import { formatDuration, parseDuration } from './duration.ts';

/** One process to scrape: its job (`haddock-quotes`) and `host:port`, or a full URL of its metrics page. */
export interface ScrapeTarget {
  readonly job: string;
  readonly address: string;
}

/** What {@link renderPrometheusConfig} needs. */
export interface PrometheusConfigOptions {
  /** How often every target is scraped (`15s`). */
  readonly scrapeInterval: string;
  /** How often the rules are evaluated (`15s`). */
  readonly evaluationInterval: string;
  /** The `namespace` label added to every scraped series (`haddock`, `qualification`, `production`). */
  readonly namespace: string;
  /** The processes to scrape; several targets of one job become one scrape config. */
  readonly targets: readonly ScrapeTarget[];
  /** Rule files to load, as written by `prepareRuleFiles` (absolute paths, or relative to the config file). */
  readonly ruleFiles: readonly string[];
  /** The Alertmanager to send alerts to (`http://127.0.0.1:9093`); no alerting section without it. */
  readonly alertmanagerUrl?: string;
}

const DEFAULT_SCRAPE_TIMEOUT_MS = 10_000;
const DEFAULT_METRICS_PATH = '/metrics';

interface ParsedTarget {
  readonly scheme: 'http' | 'https';
  readonly hostPort: string;
  readonly metricsPath: string;
}

function parseAddress(address: string): ParsedTarget | undefined {
  const hasScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(address);
  let url: URL;
  try {
    url = new URL(hasScheme ? address : `http://${address}`);
  } catch {
    return undefined;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return undefined;
  if (url.port === '' && !hasScheme) return undefined;
  if (!hasScheme && (url.pathname !== '/' || url.search !== '')) return undefined;
  const hostPort = url.port === '' ? url.hostname : `${url.hostname}:${url.port}`;
  return {
    scheme: url.protocol === 'https:' ? 'https' : 'http',
    hostPort,
    metricsPath: hasScheme && url.pathname !== '/' ? url.pathname : DEFAULT_METRICS_PATH,
  };
}

function positiveDuration(name: string, value: string, problems: string[]): number {
  const ms = parseDuration(value);
  if (ms === undefined || ms <= 0) {
    problems.push(`${name} must be a positive Prometheus duration (like 15s), got "${value}"`);
    return 0;
  }
  return ms;
}

/**
 * Renders a `prometheus.yml` that scrapes the given targets, adds the
 * `namespace` label to every series (the dashboards and rules select on it),
 * loads the rule files, and sends alerts to Alertmanager when a URL is given.
 * The scrape timeout is the scrape interval when that is under Prometheus's
 * 10 s default.
 *
 * @throws ConfigError listing every bad option.
 */
export function renderPrometheusConfig(opts: PrometheusConfigOptions): string {
  const problems: string[] = [];
  const scrapeMs = positiveDuration('scrapeInterval', opts.scrapeInterval, problems);
  positiveDuration('evaluationInterval', opts.evaluationInterval, problems);
  if (opts.namespace.trim() === '') problems.push('namespace must not be empty');
  if (opts.targets.length === 0) problems.push('targets must name at least one process to scrape');
  if (opts.ruleFiles.some((file) => file.trim() === '')) problems.push('ruleFiles must not hold an empty path');

  const jobs = new Map<string, { scheme: string; metricsPath: string; addresses: string[] }>();
  for (const target of opts.targets) {
    if (target.job.trim() === '') {
      problems.push('every target needs a job name');
      continue;
    }
    const parsed = parseAddress(target.address);
    if (parsed === undefined) {
      problems.push(`target ${target.job}: "${target.address}" is neither host:port nor an http(s) URL`);
      continue;
    }
    const job = jobs.get(target.job);
    if (job === undefined) {
      jobs.set(target.job, { scheme: parsed.scheme, metricsPath: parsed.metricsPath, addresses: [parsed.hostPort] });
    } else if (job.scheme !== parsed.scheme || job.metricsPath !== parsed.metricsPath) {
      problems.push(`target ${target.job}: every target of a job must share its scheme and metrics path`);
    } else if (!job.addresses.includes(parsed.hostPort)) {
      job.addresses.push(parsed.hostPort);
    }
  }

  let alerting: unknown;
  if (opts.alertmanagerUrl !== undefined) {
    const url = URL.canParse(opts.alertmanagerUrl) ? new URL(opts.alertmanagerUrl) : undefined;
    if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
      problems.push(`alertmanagerUrl must be an http(s) URL, got "${opts.alertmanagerUrl}"`);
    } else {
      const pathPrefix = url.pathname.replace(/\/+$/, '');
      alerting = {
        alertmanagers: [
          {
            scheme: url.protocol.slice(0, -1),
            ...(pathPrefix === '' ? {} : { path_prefix: pathPrefix }),
            api_version: 'v2',
            static_configs: [{ targets: [url.host] }],
          },
        ],
      };
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);

  const config = {
    global: {
      scrape_interval: opts.scrapeInterval,
      scrape_timeout: formatDuration(Math.min(scrapeMs, DEFAULT_SCRAPE_TIMEOUT_MS)),
      evaluation_interval: opts.evaluationInterval,
    },
    rule_files: [...opts.ruleFiles],
    ...(alerting === undefined ? {} : { alerting }),
    scrape_configs: [...jobs].map(([job, { scheme, metricsPath, addresses }]) => ({
      job_name: job,
      scheme,
      metrics_path: metricsPath,
      static_configs: [{ targets: addresses, labels: { namespace: opts.namespace } }],
    })),
  };
  const doc = new Document(config);
  doc.commentBefore =
    ' Generated by renderPrometheusConfig (src/platform/monitoring-config): change the generator, not this file.';
  return doc.toString({ lineWidth: 0 });
}
