import { runEntry, serve } from '../../lib/http/server.ts';
import { buildApp } from './app.ts';
import { loadConfig } from './config.ts';

await runEntry('users', async () => {
  const config = loadConfig(process.env);
  const app = await buildApp(config);
  await serve(app, config);
});
