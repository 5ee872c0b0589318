import assert from 'node:assert/strict';
import { availableParallelism } from 'node:os';
import { test } from 'node:test';
import { getHeapStatistics } from 'node:v8';
import {
  bounded,
  type CgroupReader,
  createRegistry,
  detectCpuLimit,
  detectMemoryLimit,
  parseMemoryInfo,
  Registry,
  scrapeGauge,
} from '../../src/lib/metrics/index.ts';
import { find, metricTypes, parseMetrics, value } from '../helpers/metrics.ts';

const cgroup =
  (files: Partial<Record<'memory.max' | 'cpu.max', string>>): CgroupReader =>
  (file) =>
    files[file];

const memoryCases: ReadonlyArray<{
  name: string;
  files: Record<string, string>;
  configured?: number;
  value: number;
  source: RegExp;
}> = [
  {
    name: 'a numeric memory.max wins',
    files: { 'memory.max': '536870912' },
    configured: 1_048_576,
    value: 536_870_912,
    source: /cgroup/,
  },
  {
    name: '"max" falls back to MEMORY_LIMIT_BYTES',
    files: { 'memory.max': 'max' },
    configured: 268_435_456,
    value: 268_435_456,
    source: /MEMORY_LIMIT_BYTES/,
  },
  {
    name: 'no cgroup file falls back to MEMORY_LIMIT_BYTES',
    files: {},
    configured: 2_097_152,
    value: 2_097_152,
    source: /MEMORY_LIMIT_BYTES/,
  },
  { name: 'nothing set gives the V8 heap limit', files: {}, value: getHeapStatistics().heap_size_limit, source: /heap/ },
];
for (const c of memoryCases) {
  test(`detectMemoryLimit: ${c.name}`, () => {
    const limit = detectMemoryLimit(c.configured, cgroup(c.files));
    assert.equal(limit.value, c.value);
    assert.match(limit.source, c.source);
  });
}

const cpuCases: ReadonlyArray<{
  name: string;
  files: Record<string, string>;
  configured?: number;
  value: number;
  source: RegExp;
}> = [
  { name: 'a quota gives quota/period', files: { 'cpu.max': '150000 100000' }, configured: 4, value: 1.5, source: /cgroup/ },
  {
    name: '"max" falls back to CPU_LIMIT_CORES',
    files: { 'cpu.max': 'max 100000' },
    configured: 0.5,
    value: 0.5,
    source: /CPU_LIMIT_CORES/,
  },
  { name: 'nothing set gives the usable CPUs', files: {}, value: availableParallelism(), source: /availableParallelism/ },
];
for (const c of cpuCases) {
  test(`detectCpuLimit: ${c.name}`, () => {
    const limit = detectCpuLimit(c.configured, cgroup(c.files));
    assert.equal(limit.value, c.value);
    assert.match(limit.source, c.source);
  });
}

test('parseMemoryInfo reads used_memory and maxmemory from INFO memory', () => {
  const info = '# Memory\r\nused_memory:1048576\r\nused_memory_human:1.00M\r\nmaxmemory:0\r\nmaxmemory_human:0B\r\n';
  assert.deepEqual(parseMemoryInfo(info), { used: 1_048_576, max: 0 });
  assert.equal(parseMemoryInfo('# Memory\r\n'), undefined);
});

test('createRegistry: service label on every series, build info, limits with their source in HELP, process metrics', async () => {
  const registry = createRegistry({
    service: 'probe',
    memoryLimitBytes: 123_456_789,
    cpuLimitCores: 0.25,
    cgroup: cgroup({}),
  });
  const text = await registry.metrics();
  const samples = parseMetrics(text);
  for (const sample of samples) assert.equal(sample.labels.service, 'probe', sample.name);
  assert.equal(value(samples, 'haddock_process_memory_limit_bytes'), 123_456_789);
  assert.equal(value(samples, 'haddock_process_cpu_limit_cores'), 0.25);
  assert.match(text, /# HELP haddock_process_memory_limit_bytes .*\(here: MEMORY_LIMIT_BYTES\)/);
  assert.match(text, /# HELP haddock_process_cpu_limit_cores .*\(here: CPU_LIMIT_CORES\)/);
  assert.equal(value(samples, 'haddock_build_info', { version: '0.1.0' }), 1);
  const types = metricTypes(text);
  assert.equal(types.get('process_cpu_seconds_total'), 'counter');
  assert.equal(types.get('process_resident_memory_bytes'), 'gauge');
});

test('two registries share the process metrics but each shows its own service label', async () => {
  const a = parseMetrics(await createRegistry({ service: 'a', cgroup: cgroup({}) }).metrics());
  const b = parseMetrics(await createRegistry({ service: 'b', cgroup: cgroup({}) }).metrics());
  assert.equal(find(a, 'process_cpu_seconds_total', { service: 'a' }).length, 1);
  assert.equal(find(b, 'process_cpu_seconds_total', { service: 'b' }).length, 1);
  assert.equal(find(a, 'process_cpu_seconds_total', { service: 'b' }).length, 0);
});

test('scrapeGauge: the value when read answers; left out when it fails, answers nothing, or is too slow', async () => {
  const registry = new Registry();
  let next: () => Promise<number | undefined> = async () => 42;
  scrapeGauge({ registry, name: 'probe_value', help: 'probe', read: () => next(), timeoutMs: 50 });
  const sampled = async () => find(parseMetrics(await registry.metrics()), 'probe_value');
  assert.deepEqual(
    (await sampled()).map((s) => s.value),
    [42],
  );
  next = async () => {
    throw new Error('redis down');
  };
  assert.deepEqual(await sampled(), []);
  next = async () => 7;
  assert.deepEqual(
    (await sampled()).map((s) => s.value),
    [7],
    'back once the read works again',
  );
  next = async () => undefined;
  assert.deepEqual(await sampled(), []);
  next = () => new Promise((resolve) => setTimeout(() => resolve(1), 500));
  const started = performance.now();
  assert.deepEqual(await sampled(), []);
  assert.ok(performance.now() - started < 400, 'the scrape did not wait for the slow read');
  assert.match(await registry.metrics(), /# TYPE probe_value gauge/);
});

test('bounded: the value, or undefined on a rejection or a timeout', async () => {
  assert.equal(await bounded(async () => 1, 100), 1);
  assert.equal(
    await bounded(() => {
      throw new Error('sync');
    }, 100),
    undefined,
  );
  assert.equal(await bounded(() => new Promise<number>(() => {}), 20), undefined);
});
