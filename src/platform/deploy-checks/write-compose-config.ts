// Rewrites the compose stack's Prometheus and Alertmanager configuration from the renderers:
//   node --import tsx src/platform/deploy-checks/write-compose-config.ts
// test/deploy/compose.test.ts checks that the committed files match.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { REPOSITORY_ROOT } from '../monitoring-config/index.ts';
import { COMPOSE_DIR, renderComposeAlertmanagerConfig, renderComposePrometheusConfig } from './compose.ts';

const dir = join(REPOSITORY_ROOT, COMPOSE_DIR);
await writeFile(join(dir, 'prometheus', 'prometheus.yml'), renderComposePrometheusConfig());
await writeFile(join(dir, 'alertmanager', 'alertmanager.yml'), renderComposeAlertmanagerConfig());
console.log(`wrote ${COMPOSE_DIR}/prometheus/prometheus.yml and ${COMPOSE_DIR}/alertmanager/alertmanager.yml`);
