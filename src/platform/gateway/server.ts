import { runEntry, serve } from '../../lib/http/server.ts';
import { buildGateway } from './app.ts';
import { loadConfig } from './config.ts';

await runEntry('gateway', async () => {
  const config = loadConfig(process.env);
  const app = await buildGateway(config);
  // serve() listens on the private metrics port (GATEWAY_METRICS_*) first, then on the public one.
  await serve(app, config);
});
