/**
 * The monitoring configuration of the platform: renders Prometheus's and
 * Alertmanager's configuration, prepares the committed rule files for a
 * profile, and lists the PromQL of the rules and the dashboard so that tests
 * can evaluate it against a real Prometheus. Pure functions, apart from
 * `prepareRuleFiles`, which writes files.
 */
export {
  ALERT_VARIABLES,
  type AlertChannel,
  type AlertmanagerOptions,
  enabledAlertChannels,
  INHIBITION_ALERT_NAMES,
  RECEIVERS,
  renderAlertmanagerConfig,
} from './alertmanager-config.ts';
export { dashboardExpressions, GRAFANA_BUILTIN_VARIABLES, type PanelExpression, substituteVariables } from './dashboard.ts';
export { formatDuration, parseDuration } from './duration.ts';
export {
  DASHBOARD_FILE,
  MONITORING_DIR,
  REPOSITORY_ROOT,
  RULE_TESTS_DIR,
  RULES_DIR,
  RUNBOOK_BASE_URL,
  RUNBOOKS_DIR,
} from './paths.ts';
export { type PrometheusConfigOptions, renderPrometheusConfig, type ScrapeTarget } from './prometheus-config.ts';
export {
  type AlertingRule,
  alertingRules,
  prepareRuleFiles,
  type RecordingExpression,
  type RuleProfile,
  recordingExpressions,
  ruleFilePaths,
  shortenFor,
  TEST_MAX_FOR,
} from './rule-files.ts';
