#!/usr/bin/env node
// The haddock CLI. In a checkout (src/ beside bin/) it runs the TypeScript
// through tsx, so a stale dist/ is never what answers; in an image, where only
// the compiled dist/ is copied (deploy/docker/image-files.json), it runs that,
// with no tsx or TypeScript installed.
import { existsSync } from 'node:fs';

const source = new URL('../src/cli/main.ts', import.meta.url);
if (existsSync(source)) {
  const { register } = await import('tsx/esm/api');
  register();
  await import(source.href);
} else {
  await import(new URL('../dist/cli/main.js', import.meta.url).href);
}
