export { BACKOFF_MAX_MS, BACKOFF_START_MS, type ChildEvent, type ChildSpec, type Probe, STABLE_AFTER_MS } from './child.ts';
export {
  DEFAULT_HOME,
  loadConfig,
  type MonitoringConfig,
  type MonitoringMode,
  type MonitoringProfile,
  type PlatformPorts,
  type RunnerConfig,
} from './config.ts';
export {
  MONITORING_INSTALL_COMMAND,
  MONITORING_MISSING_NOTICE,
  monitoringRequiredMessage,
  PlatformError,
  REDIS_MISSING_MESSAGE,
} from './errors.ts';
export {
  type PlatformBinaries,
  type PlatformEvent,
  type PlatformHandle,
  type PlatformUrls,
  platformChildren,
  type StartOptions,
  startPlatform,
} from './platform.ts';
export { assertPortFree, FatalProbeError, httpProbe, redisProbe } from './probes.ts';
export { findExecutable } from './processes.ts';
export { type MonitoringBinaries, monitoringPaths, resolveMonitoring } from './prometheus-stack.ts';
export { formatEvent, formatUrls } from './report.ts';
export { Supervisor, type SupervisorEvent, type SupervisorOptions } from './supervisor.ts';
