import { runEntry, serve } from '../../lib/http/server.ts';
import { buildAlertSink } from './app.ts';
import { loadConfig } from './config.ts';

await runEntry('alert-sink', async () => {
  const config = loadConfig(process.env);
  const app = await buildAlertSink(config);
  await serve(app, config);
});
