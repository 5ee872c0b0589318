import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { getHeapStatistics } from 'node:v8';

/** A resource limit and where it was read from (named in the metric's HELP text). */
export interface DetectedLimit {
  readonly value: number;
  readonly source: string;
}

/** Reads a cgroup file; undefined when it does not exist (no cgroup v2, or the root cgroup). */
export type CgroupReader = (file: 'memory.max' | 'cpu.max') => string | undefined;

const CGROUP_DIR = '/sys/fs/cgroup';

export const readCgroupFile: CgroupReader = (file) => {
  try {
    return readFileSync(`${CGROUP_DIR}/${file}`, 'utf8').trim();
  } catch {
    return undefined;
  }
};

/**
 * The memory this process may use: cgroup v2 `memory.max` when it holds a
 * number (not `max`), else MEMORY_LIMIT_BYTES, else V8's heap size limit.
 */
export function detectMemoryLimit(configured: number | undefined, read: CgroupReader = readCgroupFile): DetectedLimit {
  const raw = read('memory.max');
  if (raw !== undefined && /^\d+$/.test(raw) && Number(raw) > 0) return { value: Number(raw), source: 'cgroup v2 memory.max' };
  if (configured !== undefined) return { value: configured, source: 'MEMORY_LIMIT_BYTES' };
  return { value: getHeapStatistics().heap_size_limit, source: 'V8 heap_size_limit' };
}

/**
 * The CPU this process may use, in cores: cgroup v2 `cpu.max` quota/period
 * when a quota is set (not `max`), else CPU_LIMIT_CORES, else the number of
 * CPUs Node can use.
 */
export function detectCpuLimit(configured: number | undefined, read: CgroupReader = readCgroupFile): DetectedLimit {
  const match = /^(\d+)\s+(\d+)$/.exec(read('cpu.max') ?? '');
  if (match !== null && Number(match[2]) > 0 && Number(match[1]) > 0) {
    return { value: Number(match[1]) / Number(match[2]), source: 'cgroup v2 cpu.max' };
  }
  if (configured !== undefined) return { value: configured, source: 'CPU_LIMIT_CORES' };
  return { value: availableParallelism(), source: 'os.availableParallelism()' };
}
