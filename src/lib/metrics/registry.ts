import { readFileSync } from 'node:fs';
import { collectDefaultMetrics, Gauge, type Metric, Registry } from 'prom-client';
import { type CgroupReader, detectCpuLimit, detectMemoryLimit, readCgroupFile } from './limits.ts';

let processRegistry: Registry | undefined;

/**
 * prom-client's default metrics (process_*, nodejs_*), collected once per
 * process: they describe the process, and each collection starts an event-loop
 * monitor and a GC observer that live as long as it, so a process building many
 * apps (the tests) must not start one per app. Every app's registry shows them
 * under its own `service` label.
 */
function processMetrics(): Registry {
  if (processRegistry === undefined) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
  }
  return processRegistry;
}

let version: string | undefined;

/** The platform's version, from package.json (read once). */
export function buildVersion(): string {
  if (version === undefined) {
    try {
      const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
      version = typeof pkg.version === 'string' ? pkg.version : 'unknown';
    } catch {
      version = 'unknown';
    }
  }
  return version;
}

const cgroupCache = new Map<string, string | undefined>();
/** The cgroup files are read once per process: limits do not change under a running process. */
const readCgroupOnce: CgroupReader = (file) => {
  if (!cgroupCache.has(file)) cgroupCache.set(file, readCgroupFile(file));
  return cgroupCache.get(file);
};

export interface RegistryOptions {
  /** The `service` label on every series. */
  readonly service: string;
  /** MEMORY_LIMIT_BYTES: the memory limit when the cgroup sets none. */
  readonly memoryLimitBytes?: number | undefined;
  /** CPU_LIMIT_CORES: the CPU limit when the cgroup sets none. */
  readonly cpuLimitCores?: number | undefined;
  /** Reads cgroup files (tests pass their own). */
  readonly cgroup?: CgroupReader;
}

/**
 * A registry for one app (never prom-client's global one, so a process may
 * hold many apps): `service` as a default label, the process metrics,
 * `haddock_build_info{version}`, and the process's memory and CPU limits, for
 * saturation ratios such as `process_resident_memory_bytes / haddock_process_memory_limit_bytes`.
 */
export function createRegistry(options: RegistryOptions): Registry {
  const registry = new Registry();
  for (const metric of processMetrics().getMetricsAsArray()) registry.registerMetric(metric as unknown as Metric);
  registry.setDefaultLabels({ service: options.service });
  const cgroup = options.cgroup ?? readCgroupOnce;

  new Gauge({
    name: 'haddock_build_info',
    help: 'Always 1; the version label says what runs',
    labelNames: ['version'],
    registers: [registry],
  }).set({ version: buildVersion() }, 1);
  const memory = detectMemoryLimit(options.memoryLimitBytes, cgroup);
  new Gauge({
    name: 'haddock_process_memory_limit_bytes',
    help:
      'Memory this process may use: cgroup v2 memory.max when numeric, else MEMORY_LIMIT_BYTES, else the V8 heap limit ' +
      `(here: ${memory.source}); read once at start`,
    registers: [registry],
  }).set(memory.value);
  const cpu = detectCpuLimit(options.cpuLimitCores, cgroup);
  new Gauge({
    name: 'haddock_process_cpu_limit_cores',
    help:
      'CPU cores this process may use: cgroup v2 cpu.max quota/period when set, else CPU_LIMIT_CORES, else ' +
      `os.availableParallelism() (here: ${cpu.source}); read once at start`,
    registers: [registry],
  }).set(cpu.value);
  return registry;
}

export interface ScrapeGaugeOptions {
  readonly registry: Registry;
  readonly name: string;
  readonly help: string;
  /** The value now; undefined (or a rejection) leaves the series out of this scrape. */
  readonly read: () => Promise<number | undefined> | number | undefined;
  /** A read slower than this is left out, so a scrape always answers within about a second. */
  readonly timeoutMs?: number;
}

/**
 * A label-less gauge read when Prometheus scrapes. When the read fails (Redis
 * down) the series is absent from that scrape instead of failing the scrape
 * or showing a made-up 0: rules see a gap, not a false value.
 */
export function scrapeGauge(options: ScrapeGaugeOptions): Gauge {
  const timeoutMs = options.timeoutMs ?? 500;
  let absent = false;
  class OptionalGauge extends Gauge {
    override async get() {
      const metric = await super.get();
      return absent ? { ...metric, values: [] } : metric;
    }
  }
  const gauge: Gauge = new OptionalGauge({
    name: options.name,
    help: options.help,
    registers: [options.registry],
    collect: async () => {
      const value = await bounded(options.read, timeoutMs);
      absent = value === undefined;
      if (value !== undefined) gauge.set(value);
    },
  });
  return gauge;
}

/** Resolves `read()`, or undefined when it throws, rejects or takes longer than `ms`. */
export async function bounded<T>(read: () => Promise<T | undefined> | T | undefined, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      Promise.resolve().then(read),
      new Promise<undefined>((resolve) => {
        timer = setTimeout(() => resolve(undefined), ms);
      }),
    ]);
  } catch {
    return undefined;
  } finally {
    clearTimeout(timer);
  }
}
