import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The repository root: three levels above this file, from `src/platform/monitoring-config`
 * as from its compiled copy in `dist/platform/monitoring-config`.
 */
export const REPOSITORY_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

/** `monitoring/`: Prometheus rules and their tests, Alertmanager, Grafana. */
export const MONITORING_DIR = join(REPOSITORY_ROOT, 'monitoring');

/** The committed Prometheus rule files (production values). */
export const RULES_DIR = join(MONITORING_DIR, 'prometheus', 'rules');

/** The promtool unit tests of the rule files. */
export const RULE_TESTS_DIR = join(MONITORING_DIR, 'prometheus', 'tests');

/** The Grafana dashboard of the platform. */
export const DASHBOARD_FILE = join(MONITORING_DIR, 'grafana', 'dashboards', 'haddock-overview.json');

/** The runbooks every alert links to. */
export const RUNBOOKS_DIR = join(REPOSITORY_ROOT, 'docs', 'runbooks');

/**
 * Where the alerts' `runbook_url` annotations point: this repository's
 * `docs/runbooks/` on its main branch. A runbook URL is this base followed by
 * the file name, so each maps to a file under {@link RUNBOOKS_DIR}.
 */
export const RUNBOOK_BASE_URL = 'https://github.com/haddock-platform/haddock/blob/main/docs/runbooks/';
