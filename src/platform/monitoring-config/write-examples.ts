// Rewrites the committed example configuration from the renderers:
//   node --import tsx src/platform/monitoring-config/write-examples.ts
// test/monitoring checks that the committed file matches.
import { writeFile } from 'node:fs/promises';
import { relative } from 'node:path';
import { ALERTMANAGER_EXAMPLE_FILE, renderAlertmanagerExample } from './examples.ts';
import { REPOSITORY_ROOT } from './paths.ts';

await writeFile(ALERTMANAGER_EXAMPLE_FILE, renderAlertmanagerExample());
console.log(`wrote ${relative(REPOSITORY_ROOT, ALERTMANAGER_EXAMPLE_FILE)}`);
