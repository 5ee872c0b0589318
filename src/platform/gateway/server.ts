import { runEntry, serve } from '../../lib/http/server.ts';
import { buildGateway } from './app.ts';
import { loadConfig } from './config.ts';

await runEntry('gateway', async () => {
  const config = loadConfig(process.env);
  const app = await buildGateway(config);
  // The scrape port first: a gateway that cannot expose its metrics fails at start, not silently.
  await app.metricsApp.listen({ host: config.metricsHost, port: config.metricsPort });
  app.log.info({ host: config.metricsHost, port: config.metricsPort }, 'metrics listening');
  await serve(app, config);
});
