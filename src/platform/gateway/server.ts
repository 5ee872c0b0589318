import { runEntry, serve } from '../../lib/http/server.ts';
import { buildGateway } from './app.ts';
import { loadConfig } from './config.ts';
import { buildPlatformOpenApi } from './openapi.ts';

await runEntry('gateway', async () => {
  const config = loadConfig(process.env);
  // The services read the same environment, so the documented limits match theirs.
  const openapi = await buildPlatformOpenApi(process.env);
  const app = await buildGateway(config, { openapi });
  // The scrape port first: a gateway that cannot expose its metrics fails at start, not silently.
  await app.metricsApp.listen({ host: config.metricsHost, port: config.metricsPort });
  app.log.info({ host: config.metricsHost, port: config.metricsPort }, 'metrics listening');
  await serve(app, config.host, config.port, config.shutdownGraceMs);
});
