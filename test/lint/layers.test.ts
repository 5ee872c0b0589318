import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';

const ROOT = new URL('../..', import.meta.url).pathname;
const BIOME = join(ROOT, 'node_modules', '.bin', 'biome');
const RULE = 'lint/style/noRestrictedImports';

interface Diagnostic {
  readonly category: string;
  readonly message: string;
  readonly location: { readonly path: string };
}

interface Lint {
  readonly code: number;
  readonly diagnostics: readonly Diagnostic[];
  readonly stderr: string;
}

/** One probe file: where it sits decides which layer rule applies to it. */
interface Case {
  readonly name: string;
  readonly file: string;
  readonly source: string;
  /** A fragment of the layer's message, for a forbidden import; absent when the import is allowed. */
  readonly forbidden?: string;
}

const LIB = 'src/lib imports nothing outside src/lib';
const OPS = 'src/ops imports only src/lib and src/ops';
const SERVICE_ENTRY = "A service's app, routes and server are entry points";
const ENTRIES = 'Entry points (src/cli, src/platform, src/services) do not import one another';

const use = (specifier: string) => `import { x } from '${specifier}';\n\nexport const y = x;\n`;

const CASES: readonly Case[] = [
  { name: 'src/lib → src/cli', file: 'src/lib/errors/probe.ts', source: use('../../cli/main.ts'), forbidden: LIB },
  { name: 'src/lib → src/ops', file: 'src/lib/redis/probe.ts', source: use('../../ops/backup/index.ts'), forbidden: LIB },
  {
    name: 'src/lib → a store',
    file: 'src/lib/http/probe.ts',
    source: use('../../services/quotes/quote-store.ts'),
    forbidden: LIB,
  },
  {
    name: 'src/lib → src/platform, dynamically',
    file: 'src/lib/service/probe.ts',
    source: "export const load = () => import('../../platform/runner/index.ts');\n",
    forbidden: LIB,
  },
  { name: 'src/ops → src/cli', file: 'src/ops/check/probe.ts', source: use('../../cli/commands/health.ts'), forbidden: OPS },
  {
    name: 'src/ops → a service store',
    file: 'src/ops/backup/probe.ts',
    source: use('../../services/quotes/quote-store.ts'),
    forbidden: OPS,
  },
  {
    name: 'src/ops (top level) → src/platform',
    file: 'src/ops/probe.ts',
    source: use('../platform/gateway/app.ts'),
    forbidden: OPS,
  },
  {
    name: "a service → another service's routes",
    file: 'src/services/search/probe.ts',
    source: use('../quotes/routes.ts'),
    forbidden: SERVICE_ENTRY,
  },
  {
    name: "a service → another service's app",
    file: 'src/services/users/probe.ts',
    source: use('../ops/app.ts'),
    forbidden: SERVICE_ENTRY,
  },
  {
    name: "a service → another service's server, the long way round",
    file: 'src/services/quotes/probe.ts',
    source: use('../../services/users/server.ts'),
    forbidden: SERVICE_ENTRY,
  },
  {
    name: "the gateway → a service's app",
    file: 'src/platform/gateway/probe.ts',
    source: use('../../services/users/app.ts'),
    forbidden: SERVICE_ENTRY,
  },
  {
    name: "the CLI → a service's server",
    file: 'src/cli/commands/probe.ts',
    source: use('../../services/quotes/server.ts'),
    forbidden: SERVICE_ENTRY,
  },
  { name: 'a service → src/cli', file: 'src/services/ops/probe.ts', source: use('../../cli/print.ts'), forbidden: ENTRIES },
  { name: 'src/cli → src/platform', file: 'src/cli/probe.ts', source: use('../platform/runner/index.ts'), forbidden: ENTRIES },
  { name: 'src/platform → src/cli', file: 'src/platform/runner/probe.ts', source: use('../../cli/main.ts'), forbidden: ENTRIES },

  { name: 'src/lib → src/lib', file: 'src/lib/errors/allowed.ts', source: use('../text/index.ts') },
  { name: 'src/lib → a package', file: 'src/lib/redis/allowed.ts', source: use('ioredis') },
  { name: 'src/ops → src/lib', file: 'src/ops/check/allowed.ts', source: use('../../lib/errors/index.ts') },
  { name: 'src/ops → src/ops', file: 'src/ops/check/allowed-ops.ts', source: use('../backup/index.ts') },
  { name: 'a service → its own app', file: 'src/services/users/allowed.ts', source: use('./app.ts') },
  {
    name: "a service → another service's store",
    file: 'src/services/search/allowed.ts',
    source: use('../quotes/quote-store.ts'),
  },
  { name: 'a service → src/ops', file: 'src/services/ops/allowed.ts', source: use('../../ops/incidents/index.ts') },
  {
    name: 'src/cli → src/ops and a store',
    file: 'src/cli/commands/allowed.ts',
    source: `${use('../../ops/backup/index.ts')}import { z } from '../../services/quotes/quote-store.ts';\n\nexport const w = z;\n`,
  },
  { name: 'src/platform → src/lib', file: 'src/platform/gateway/allowed.ts', source: use('../../lib/http/index.ts') },
];

/** Runs the project's Biome on the given files of `cwd`, with the JSON reporter. */
function lint(cwd: string, files: readonly string[]): Promise<Lint> {
  return new Promise((resolve, reject) => {
    execFile(BIOME, ['lint', '--reporter=json', ...files], { cwd }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1;
      try {
        const report = JSON.parse(stdout) as { diagnostics: Diagnostic[] };
        resolve({ code, diagnostics: report.diagnostics, stderr });
      } catch {
        reject(new Error(`biome gave no JSON report (exit ${code}): ${stdout}${stderr}`));
      }
    });
  });
}

describe('layers: the linter refuses an upward or sideways import (biome.json overrides)', () => {
  let dir: string;

  before(async () => {
    // A scratch copy of the project's configuration, so the probes never touch the tree others lint.
    dir = await mkdtemp(join(tmpdir(), 'haddock-layers-'));
    const config = JSON.parse(await readFile(join(ROOT, 'biome.json'), 'utf8')) as Record<string, unknown>;
    delete config.$schema;
    await writeFile(join(dir, 'biome.json'), JSON.stringify(config));
    for (const c of CASES) {
      await mkdir(join(dir, dirname(c.file)), { recursive: true });
      await writeFile(join(dir, c.file), c.source);
    }
  });

  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  for (const c of CASES.filter((x) => x.forbidden !== undefined)) {
    test(`${c.name} → lint fails with ${RULE}`, async () => {
      const run = await lint(dir, [c.file]);
      assert.notEqual(run.code, 0, `biome accepted ${c.file}: ${c.source}`);
      const restricted = run.diagnostics.filter((d) => d.category === RULE);
      assert.equal(restricted.length, 1, `one ${RULE} diagnostic: ${JSON.stringify(run.diagnostics)}`);
      assert.ok(restricted[0]?.message.includes(c.forbidden ?? ''), `the layer is named: ${restricted[0]?.message}`);
    });
  }

  test('every allowed import → lint passes', async () => {
    const allowed = CASES.filter((x) => x.forbidden === undefined);
    const run = await lint(
      dir,
      allowed.map((c) => c.file),
    );
    assert.deepEqual(
      run.diagnostics.map((d) => `${d.location.path}: ${d.category} ${d.message}`),
      [],
    );
    assert.equal(run.code, 0, run.stderr);
  });
});
