// Rewrites deploy/k8s/base/monitoring's generated files from their one source each:
//   node --import tsx src/platform/deploy-checks/write-k8s-monitoring.ts
// prometheusrules.yaml from monitoring/prometheus/rules/*.yml and rules-k8s/*.yml; dashboards/ from
// monitoring/grafana/dashboards (kustomize refuses files outside a kustomization's folder, symlinks included).
// test/deploy/k8s-monitoring.test.ts checks that the committed files match.
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { REPOSITORY_ROOT } from '../monitoring-config/index.ts';
import {
  DASHBOARD_COPY,
  dashboardSource,
  K8S_MONITORING_DIR,
  PROMETHEUS_RULES_FILE,
  renderPrometheusRules,
} from './k8s-monitoring.ts';

const dir = join(REPOSITORY_ROOT, K8S_MONITORING_DIR);
await writeFile(join(dir, PROMETHEUS_RULES_FILE), renderPrometheusRules());
await mkdir(dirname(join(dir, DASHBOARD_COPY)), { recursive: true });
await writeFile(join(dir, DASHBOARD_COPY), dashboardSource());
console.log(`wrote ${K8S_MONITORING_DIR}/${PROMETHEUS_RULES_FILE} and ${K8S_MONITORING_DIR}/${DASHBOARD_COPY}`);
