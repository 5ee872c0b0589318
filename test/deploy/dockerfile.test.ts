import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import {
  checkDockerfile,
  checkDockerignore,
  healthcheckCommand,
  parseStages,
  readImageFiles,
  type Stage,
  unpinnedReason,
} from '../../src/platform/deploy-checks/dockerfile.ts';
import { HEALTH_PATHS } from '../../src/platform/gateway/routing.ts';
import { loadConfig as loadOpsConfig } from '../../src/services/ops/config.ts';
import { loadConfig as loadUsersConfig } from '../../src/services/users/config.ts';

const ROOT = new URL('../..', import.meta.url).pathname;
const FIXTURES = join(ROOT, 'test/deploy/fixtures');
const DOCKERFILE = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
const IMAGE_FILES = readImageFiles(ROOT);

function stage(name: string): Stage {
  const found = parseStages(DOCKERFILE).find((s) => s.name === name);
  assert.ok(found, `the Dockerfile has no stage ${name}`);
  return found;
}

/** The real Dockerfile with `from` replaced by `to` (which must be there, once at least). */
function mutated(from: string | RegExp, to: string): string {
  const text = DOCKERFILE.replace(from, to);
  assert.ok(text !== DOCKERFILE, `the mutation ${String(from)} no longer applies to the Dockerfile: update the case`);
  return text;
}

describe('Dockerfile static checks', () => {
  test('the real Dockerfile and .dockerignore have no problems', () => {
    assert.deepEqual(checkDockerfile(DOCKERFILE, IMAGE_FILES), []);
    assert.deepEqual(checkDockerignore(readFileSync(join(ROOT, '.dockerignore'), 'utf8'), IMAGE_FILES), []);
  });

  test('every file the image list copies from the build context exists in the repository', () => {
    for (const file of IMAGE_FILES.files.filter((f) => f.from === undefined)) {
      assert.ok(existsSync(join(ROOT, file.path)), `${file.path} is in deploy/docker/image-files.json but not in the repository`);
    }
    const build = JSON.parse(readFileSync(join(ROOT, 'tsconfig.build.json'), 'utf8')) as {
      compilerOptions: Record<string, string>;
    };
    assert.equal(build.compilerOptions.rootDir, 'src', 'dist/ must mirror src/ (runtime paths rely on the same depth)');
    assert.equal(build.compilerOptions.outDir, 'dist');
    assert.ok(IMAGE_FILES.files.some((f) => f.path === 'dist/' && f.from === 'build'));
  });

  test("the images' health checks probe the default command's own port and a health route the services serve", () => {
    const cases = [
      {
        name: 'runtime',
        cmd: 'dist/services/users/server.js',
        port: loadUsersConfig({ SEED_ON_START: 'false' }).port,
        path: '/users/',
      },
      { name: 'ops', cmd: 'dist/services/ops/server.js', port: loadOpsConfig({}).port, path: '/ops/' },
    ];
    for (const { name, cmd, port, path } of cases) {
      const s = stage(name);
      const command = s.instructions.filter((i) => i.keyword === 'CMD').at(-1)?.args;
      assert.deepEqual(JSON.parse(command ?? 'null'), [cmd], `${name}: default command`);
      const url = new URL(healthcheckCommand(s)?.[2] ?? 'http://invalid');
      assert.equal(Number(url.port), port, `${name}: HEALTHCHECK port must be the service's default PORT`);
      assert.ok(
        HEALTH_PATHS.includes(url.pathname) && url.pathname.startsWith(path),
        `${name}: ${url.pathname} is not a health route`,
      );
    }
  });

  const fixtures: readonly { file: string; problem: RegExp }[] = [
    { file: 'root-user.Dockerfile', problem: /^runtime: USER 0:0 is root$/ },
    { file: 'latest-tag.Dockerfile', problem: /base image node:latest is tagged latest/ },
    { file: 'untagged-from.Dockerfile', problem: /base image node has no tag/ },
    { file: 'missing-file.Dockerfile', problem: /^ops: data\/ \(image file list\) is not copied to \/app\/data\/$/ },
    { file: 'shell-healthcheck.Dockerfile', problem: /^runtime: line \d+: HEALTHCHECK in shell form/ },
  ];
  for (const { file, problem } of fixtures) {
    test(`fixture ${file} → exactly its one problem`, () => {
      const problems = checkDockerfile(readFileSync(join(FIXTURES, file), 'utf8'), IMAGE_FILES);
      assert.equal(problems.length, 1, `expected one problem, got:\n${problems.join('\n')}`);
      assert.match(problems[0] ?? '', problem);
    });
  }

  // Every other rule, each made to fail by one change to the real Dockerfile.
  const mutations: readonly { name: string; from: string | RegExp; to: string; problem: RegExp }[] = [
    { name: 'a stage without a name', from: ' AS node\n', to: '\n', problem: /FROM node:22\.\S+ has no stage name/ },
    { name: 'two stages with one name', from: ' AS node\n', to: ' AS deps\n', problem: /stage name deps is used twice/ },
    { name: 'no ops stage', from: ' AS ops\n', to: ' AS operations\n', problem: /no stage named ops/ },
    {
      name: 'a base from a variable',
      from: 'FROM debian:12.11-slim',
      to: 'FROM debian:$DEBIAN',
      problem: /built from a variable/,
    },
    {
      name: 'runtime on another base',
      from: 'FROM gcr.io/distroless/nodejs22-debian12:nonroot',
      to: 'FROM gcr.io/distroless/nodejs22-debian12:debug',
      problem: /runtime: base is gcr\.io\/distroless\/nodejs22-debian12:debug/,
    },
    {
      name: 'ops on an undated tag',
      from: 'FROM debian:12.11-slim',
      to: 'FROM debian:bookworm-slim',
      problem: /ops: base is debian:bookworm-slim/,
    },
    { name: 'redis-server unpinned', from: "'redis-server=5:7.0.*'", to: 'redis-server', problem: /redis-server pinned to 7\.0/ },
    {
      name: 'redis-server 7.2',
      from: "'redis-server=5:7.0.*'",
      to: "'redis-server=5:7.2.*'",
      problem: /redis-server pinned to 7\.0/,
    },
    { name: 'a named user', from: 'USER 10001:10001', to: 'USER haddock', problem: /ops: USER haddock is not a numeric uid/ },
    { name: 'no USER', from: 'USER 10001:10001\n', to: '', problem: /ops: no USER/ },
    {
      name: 'another WORKDIR',
      from: /WORKDIR \/app\nENV NODE_ENV/,
      to: 'WORKDIR /srv\nENV NODE_ENV',
      problem: /WORKDIR is \/srv/,
    },
    {
      name: 'TMPDIR elsewhere',
      from: 'TMPDIR=/tmp \\\n    BACKUP',
      to: 'TMPDIR=/var/tmp \\\n    BACKUP',
      problem: /ops: ENV TMPDIR is \/var\/tmp/,
    },
    {
      name: 'a shell-form ENTRYPOINT',
      from: 'ENTRYPOINT ["/nodejs/bin/node"]',
      to: 'ENTRYPOINT /nodejs/bin/node',
      problem: /runtime: ENTRYPOINT/,
    },
    {
      name: 'a CMD outside dist',
      from: 'CMD ["dist/services/ops/server.js"]',
      to: 'CMD ["src/services/ops/server.ts"]',
      problem: /ops: CMD/,
    },
    {
      name: 'a probe run by another node',
      from: 'CMD ["/usr/local/bin/node", "/app/deploy',
      to: 'CMD ["/usr/bin/node", "/app/deploy',
      problem: /ops: HEALTHCHECK must run the ENTRYPOINT's node/,
    },
    { name: 'no HEALTHCHECK', from: /HEALTHCHECK [^\n]*\\\n {2}CMD \["\/usr[^\n]*\n/, to: '', problem: /^ops: no HEALTHCHECK$/ },
    {
      name: 'no revision label',
      from: /\s+org\.opencontainers\.image\.revision="\$\{REVISION\}"\nRUN/,
      to: '\nRUN',
      problem: /ops: no OCI label org\.opencontainers\.image\.revision/,
    },
    {
      name: 'a literal version label',
      from: /org\.opencontainers\.image\.version="\$\{VERSION\}"/,
      to: 'org.opencontainers.image.version="0.1.0"',
      problem: /runtime: label org\.opencontainers\.image\.version must be \$\{VERSION\}/,
    },
    {
      name: 'ADD of a URL',
      from: 'WORKDIR /app\nCOPY package.json',
      to: 'ADD https://example.org/x.tgz /x\nWORKDIR /app\nCOPY package.json',
      problem: /ADD of a remote URL/,
    },
    {
      name: 'a secret in ENV',
      from: 'TMPDIR=/tmp\n',
      to: 'TMPDIR=/tmp ADMIN_KEY=x\n',
      problem: /ENV ADMIN_KEY looks like a secret/,
    },
    {
      name: 'a secret in ARG',
      from: 'ARG VERSION=0.0.0-dev\n',
      to: 'ARG NPM_TOKEN\nARG VERSION=0.0.0-dev\n',
      problem: /ARG NPM_TOKEN looks like a secret/,
    },
    {
      name: 'a file not in the list',
      from: 'RUN ln -s',
      to: 'COPY README.md /app/README.md\nRUN ln -s',
      problem: /ops: line \d+: README\.md is copied to \/app\/README\.md, which the image file list does not name/,
    },
    {
      name: 'dist from the context instead of the build stage',
      from: 'COPY --from=build /app/dist/ /app/dist/',
      to: 'COPY dist/ /app/dist/',
      problem: /^runtime: \/app\/dist\/ must be copied from stage build as \/app\/dist\/$/,
    },
  ];
  for (const { name, from, to, problem } of mutations) {
    test(`the checker refuses ${name}`, () => {
      const problems = checkDockerfile(mutated(from, to), IMAGE_FILES);
      assert.ok(
        problems.some((p) => problem.test(p)),
        `expected a problem matching ${problem}, got:\n${problems.join('\n') || '(none)'}`,
      );
    });
  }

  test('base pins: a version tag or a digest, never latest or nothing', () => {
    const digest = `@sha256:${'a'.repeat(64)}`;
    const table: readonly [string, boolean][] = [
      ['node:22.22.0-bookworm-slim', true],
      ['gcr.io/distroless/nodejs22-debian12:nonroot', true],
      [`gcr.io/distroless/nodejs22-debian12${digest}`, true],
      [`node:22.22.0-bookworm-slim${digest}`, true],
      ['localhost:5000/node:22', true],
      ['localhost:5000/node', false],
      ['node', false],
      ['node:latest', false],
      ['node:', false],
    ];
    for (const [image, pinned] of table) assert.equal(unpinnedReason(image) === undefined, pinned, image);
  });

  test('.dockerignore: refuses one that lets node_modules in or hides a copied path', () => {
    const real = readFileSync(join(ROOT, '.dockerignore'), 'utf8');
    assert.deepEqual(checkDockerignore(real.replace(/^node_modules$/m, ''), IMAGE_FILES), [
      '.dockerignore does not exclude node_modules',
    ]);
    assert.deepEqual(checkDockerignore(`${real}\ndata\n`, IMAGE_FILES), [
      '.dockerignore pattern data hides data, which the image build copies',
    ]);
    assert.deepEqual(checkDockerignore(`${real}\n**/*.mjs\n`, IMAGE_FILES), [
      '.dockerignore pattern **/*.mjs hides bin/haddock.mjs, which the image build copies',
      '.dockerignore pattern **/*.mjs hides deploy/docker/healthcheck.mjs, which the image build copies',
    ]);
  });
});
