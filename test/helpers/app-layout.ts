import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { readImageFiles } from '../../src/platform/deploy-checks/dockerfile.ts';

const run = promisify(execFile);
const ROOT = new URL('../..', import.meta.url).pathname;
/** Written last into a finished directory: one without it is a crashed build, never reused. */
const DONE = '.haddock-complete';

/** The compiled platform laid out as the images' /app, and what making it cost this time. */
export interface AppLayout {
  readonly app: string;
  readonly timings: readonly string[];
}

function filesUnder(path: string): string[] {
  if (!statSync(path).isDirectory()) return [path];
  return readdirSync(path)
    .sort()
    .flatMap((name) => filesUnder(join(path, name)));
}

/** A hash of the files that decide a directory's content (paths relative to the repository root, and bytes). */
function hashOf(paths: readonly string[]): string {
  const hash = createHash('sha256');
  for (const file of paths.flatMap((p) => filesUnder(join(ROOT, p)))) {
    hash.update(relative(ROOT, file));
    hash.update('\0');
    hash.update(readFileSync(file));
    hash.update('\0');
  }
  return hash.digest('hex').slice(0, 16);
}

/**
 * Makes `dir` once: `make` fills a private sibling folder, renamed into place when complete. A run that finds
 * `dir` complete reuses it; two runs racing both build, the first rename wins and the other's folder is dropped.
 */
async function once(dir: string, make: (into: string) => Promise<void>): Promise<boolean> {
  if (existsSync(join(dir, DONE))) return false;
  rmSync(dir, { recursive: true, force: true });
  const scratch = `${dir}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  mkdirSync(scratch, { recursive: true });
  try {
    await make(scratch);
    writeFileSync(join(scratch, DONE), new Date().toISOString());
    try {
      renameSync(scratch, dir);
    } catch (err) {
      if (!existsSync(join(dir, DONE))) throw err;
    }
    return true;
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

async function timed(timings: string[], what: string, work: () => Promise<unknown>): Promise<void> {
  const start = Date.now();
  await work();
  timings.push(`${what} ${((Date.now() - start) / 1000).toFixed(1)} s`);
}

/**
 * Production node_modules (`npm ci --omit=dev`, as the image's deps stage), under the OS temp folder keyed by
 * the lockfile's hash: one install per lockfile, shared by every test file and run.
 */
async function productionModules(timings: string[]): Promise<string> {
  const dir = join(tmpdir(), `haddock-prod-modules-${hashOf(['package.json', 'package-lock.json'])}`);
  await once(dir, (into) =>
    timed(timings, 'npm ci --omit=dev', async () => {
      for (const file of ['package.json', 'package-lock.json']) cpSync(join(ROOT, file), join(into, file));
      // One retry, so an unreachable registry fails in seconds rather than minutes; errors only (the
      // EBADENGINE warnings of packages that declare Node >= 22 would bury them).
      await run(
        'npm',
        [
          'ci',
          '--omit=dev',
          '--ignore-scripts',
          '--no-audit',
          '--no-fund',
          '--prefer-offline',
          '--fetch-retries=1',
          '--loglevel=error',
        ],
        { cwd: into, timeout: 120_000 },
      ).catch((err) =>
        assert.fail(
          'npm ci --omit=dev failed in the image layout: this test needs the npm registry (or a warm npm cache) and never ' +
            `skips; npm said:\n${(err as { stderr?: string }).stderr ?? (err as Error).message}`,
        ),
      );
    }),
  );
  return join(dir, 'node_modules');
}

/**
 * The compiled platform laid out as both images' /app (deploy/docker/image-files.json: the listed files, `npm run
 * build` into dist/, production node_modules/), under the OS temp folder keyed by the hash of everything it is
 * made from (sources, tsconfigs, lockfile, listed files): built once, shared by test/deploy/image-layout.test.ts
 * and test/deploy/k8s-run.test.ts, rebuilt when a source changes. Treat it as read-only.
 */
export async function appLayout(): Promise<AppLayout> {
  const timings: string[] = [];
  const imageFiles = readImageFiles(ROOT);
  const made = imageFiles.files.filter((f) => f.from !== undefined).map((f) => f.path);
  assert.deepEqual(
    [...made].sort(),
    ['dist/', 'node_modules/'],
    'deploy/docker/image-files.json names a made path this helper cannot make: teach it how',
  );
  const copied = imageFiles.files.filter((f) => f.from === undefined).map((f) => f.path.replace(/\/$/, ''));
  const key = hashOf(['src', 'tsconfig.json', 'tsconfig.build.json', 'package.json', 'package-lock.json', ...copied]);
  const app = join(tmpdir(), `haddock-app-layout-${key}`);
  // Compiling and installing take a core each: side by side.
  const [modules] = await Promise.all([
    productionModules(timings),
    once(app, async (into) => {
      for (const path of copied) cpSync(join(ROOT, path), join(into, path), { recursive: true });
      await timed(timings, 'npm run build', () =>
        run('npm', ['run', 'build', '--', '--outDir', join(into, 'dist')], { cwd: ROOT, timeout: 120_000 }).catch((err) =>
          assert.fail(`npm run build failed:\n${(err as { stdout?: string }).stdout ?? ''}${(err as Error).message}`),
        ),
      );
    }),
  ]);
  // node_modules/ is the shared install, linked: Node resolves packages through it as through a copied folder.
  const link = join(app, 'node_modules');
  if (!existsSync(link)) {
    try {
      symlinkSync(modules, link, 'dir');
    } catch (err) {
      if (!existsSync(link)) throw err;
    }
  }
  if (timings.length === 0) timings.push(`reused ${app}`);
  return { app, timings };
}
