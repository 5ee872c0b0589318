import { readFileSync } from 'node:fs';
import { join, posix } from 'node:path';

/** One entry of `deploy/docker/image-files.json`: a path copied into the app directory of both images. */
export interface ImageFile {
  /** Relative to the app directory (and to the build context, or to the `from` stage's app directory); `/` ends a directory. */
  readonly path: string;
  /** The build stage that makes it (`build`, `deps`); absent: copied from the build context. */
  readonly from?: string;
  /** How that stage makes it, for people and for the layout test. */
  readonly made?: string;
}

/** `deploy/docker/image-files.json`: what the images copy, the one list the Dockerfile and the layout test share. */
export interface ImageFiles {
  readonly appDir: string;
  readonly files: readonly ImageFile[];
}

/** Where the list lives, relative to the repository root. */
export const IMAGE_FILES_PATH = 'deploy/docker/image-files.json';

/** Reads and validates the image file list under `root` (the repository, or any directory laid out like it). */
export function readImageFiles(root: string): ImageFiles {
  const parsed = JSON.parse(readFileSync(join(root, IMAGE_FILES_PATH), 'utf8')) as Partial<ImageFiles>;
  if (typeof parsed.appDir !== 'string' || !posix.isAbsolute(parsed.appDir) || !Array.isArray(parsed.files)) {
    throw new Error(`${IMAGE_FILES_PATH}: expected { "appDir": "/…", "files": [{ "path": … }] }`);
  }
  for (const file of parsed.files) {
    if (typeof file?.path !== 'string' || file.path === '' || posix.isAbsolute(file.path) || file.path.includes('..')) {
      throw new Error(`${IMAGE_FILES_PATH}: every entry needs a relative "path" inside the app directory`);
    }
  }
  return parsed as ImageFiles;
}

/** One Dockerfile instruction, continuation lines joined. */
export interface Instruction {
  readonly line: number;
  /** Upper-cased (`FROM`, `COPY`, …). */
  readonly keyword: string;
  /** The rest of the instruction, as written. */
  readonly args: string;
}

/** One `FROM … AS name` and the instructions under it. */
export interface Stage {
  readonly line: number;
  readonly name: string | undefined;
  readonly base: string;
  readonly instructions: readonly Instruction[];
}

/** Splits a Dockerfile into instructions: comments and blank lines dropped, `\` continuations joined. */
export function parseInstructions(text: string): Instruction[] {
  const instructions: Instruction[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const first = lines[i]?.trim() ?? '';
    if (first === '' || first.startsWith('#')) continue;
    const start = i + 1;
    let joined = first;
    while (joined.endsWith('\\') && i + 1 < lines.length) {
      joined = joined.slice(0, -1);
      i++;
      const next = lines[i]?.trim() ?? '';
      if (next.startsWith('#')) continue;
      joined += ` ${next}`;
    }
    const match = /^(\S+)\s*(.*)$/.exec(joined.trim());
    if (match?.[1] !== undefined) instructions.push({ line: start, keyword: match[1].toUpperCase(), args: match[2] ?? '' });
  }
  return instructions;
}

/** The stages of a Dockerfile, in order; instructions before the first FROM (global ARGs) are not in any. */
export function parseStages(text: string): Stage[] {
  const stages: { line: number; name: string | undefined; base: string; instructions: Instruction[] }[] = [];
  for (const instruction of parseInstructions(text)) {
    if (instruction.keyword === 'FROM') {
      const words = instruction.args.split(/\s+/).filter((w) => !w.startsWith('--'));
      const as = words.findIndex((w) => w.toUpperCase() === 'AS');
      stages.push({ line: instruction.line, base: words[0] ?? '', name: as >= 0 ? words[as + 1] : undefined, instructions: [] });
    } else {
      stages.at(-1)?.instructions.push(instruction);
    }
  }
  return stages;
}

/** The words of an instruction's arguments: its JSON (exec) form when it has one, else split on blanks. */
function argv(args: string): { form: 'exec' | 'shell'; words: string[] } {
  if (args.trim().startsWith('[')) {
    try {
      const parsed = JSON.parse(args) as unknown;
      if (Array.isArray(parsed) && parsed.every((w) => typeof w === 'string')) return { form: 'exec', words: parsed };
    } catch {
      // Docker runs an array that does not parse as a shell command: so do we.
    }
  }
  return { form: 'shell', words: args.trim().split(/\s+/).filter(Boolean) };
}

/** `KEY=value …` pairs (ENV, LABEL, ARG) of one instruction; quotes removed. The legacy `ENV KEY value` form too. */
export function keyValues(args: string): Map<string, string> {
  const pairs = new Map<string, string>();
  const re = /([^\s=]+)(?:=("(?:[^"\\]|\\.)*"|'[^']*'|\S*))?/g;
  if (!args.includes('=')) {
    const [key, ...rest] = args.trim().split(/\s+/);
    if (key !== undefined && key !== '') pairs.set(key, rest.join(' '));
    return pairs;
  }
  for (const match of args.matchAll(re)) {
    const key = match[1];
    if (key === undefined) continue;
    const raw = match[2] ?? '';
    pairs.set(key, raw.startsWith('"') || raw.startsWith("'") ? raw.slice(1, -1) : raw);
  }
  return pairs;
}

/** Every `ENV` of a stage, later ones winning. */
export function stageEnv(stage: Stage): Map<string, string> {
  const env = new Map<string, string>();
  for (const i of stage.instructions) if (i.keyword === 'ENV') for (const [k, v] of keyValues(i.args)) env.set(k, v);
  return env;
}

/** The exec-form command of a stage's last `HEALTHCHECK … CMD [...]`, if any. */
export function healthcheckCommand(stage: Stage): string[] | undefined {
  const last = stage.instructions.filter((i) => i.keyword === 'HEALTHCHECK').at(-1);
  const cmd = last === undefined ? undefined : /\bCMD\s+(.*)$/i.exec(last.args)?.[1];
  if (cmd === undefined) return undefined;
  const parsed = argv(cmd);
  return parsed.form === 'exec' ? parsed.words : undefined;
}

/** What a COPY puts where: each target path in the image, with the stage it came from and its source. */
interface CopiedPath {
  readonly target: string;
  readonly from: string | undefined;
  readonly source: string;
  readonly line: number;
}

function copiedPaths(stage: Stage): CopiedPath[] {
  const copied: CopiedPath[] = [];
  let workdir = '/';
  for (const i of stage.instructions) {
    if (i.keyword === 'WORKDIR') workdir = posix.resolve(workdir, i.args.trim());
    if (i.keyword !== 'COPY') continue;
    const all = i.args.trim().split(/\s+/);
    const from = all.find((w) => w.startsWith('--from='))?.slice('--from='.length);
    const { words } = argv(all.filter((w) => !w.startsWith('--')).join(' '));
    const dest = words.at(-1);
    const sources = words.slice(0, -1);
    if (dest === undefined || sources.length === 0) continue;
    const destDir = dest.endsWith('/') || sources.length > 1;
    const destPath = posix.resolve(workdir, dest);
    for (const source of sources) {
      // A directory source (written with a trailing /) copies its contents into dest; a file lands in dest/ or as dest.
      const target = source.endsWith('/') ? `${destPath}/` : destDir ? posix.join(destPath, posix.basename(source)) : destPath;
      copied.push({ target, from, source, line: i.line });
    }
  }
  return copied;
}

/** What a healthy Dockerfile of this project has: the names every deployment file relies on. */
export const DOCKERFILE_RULES = Object.freeze({
  finalStages: ['runtime', 'ops'] as const,
  runtimeBase: 'gcr.io/distroless/nodejs22-debian12:nonroot',
  /** The ops image: Debian 12 slim, pinned by a dated tag. */
  opsBase: /^debian:(12\.\d+-slim|bookworm-\d{8}-slim)(@sha256:[0-9a-f]{64})?$/,
  /** Debian's redis-server of the platform's Redis major version (7.0), pinned. */
  opsRedis: /\bredis-server=5:7\.0\.[0-9*]/,
  labels: [
    'org.opencontainers.image.source',
    'org.opencontainers.image.version',
    'org.opencontainers.image.revision',
    'org.opencontainers.image.title',
  ],
  /** Labels whose value must come from a build argument, never a literal. */
  labelArgs: {
    'org.opencontainers.image.source': 'SOURCE',
    'org.opencontainers.image.version': 'VERSION',
    'org.opencontainers.image.revision': 'REVISION',
  },
  env: { TMPDIR: '/tmp', NODE_ENV: 'production' } as Readonly<Record<string, string>>,
  secretName: /(PASSWORD|PASSWD|TOKEN|SECRET|KEY)/i,
});

/** Why a base image reference is not pinned, or undefined when it is (by a tag other than latest, or by digest). */
export function unpinnedReason(image: string): string | undefined {
  if (image.includes('$')) return 'is built from a variable: write the pinned image literally';
  if (/@sha256:[0-9a-f]{64}$/.test(image)) return undefined;
  const lastSlash = image.lastIndexOf('/');
  const colon = image.indexOf(':', lastSlash + 1);
  if (colon < 0) return 'has no tag (Docker would take latest)';
  const tag = image.slice(colon + 1);
  if (tag === '' || tag === 'latest') return 'is tagged latest';
  return undefined;
}

/**
 * Every problem of a Dockerfile against this project's rules (an empty list when it has none), each naming its
 * line: bases pinned (a tag other than `latest`, or a digest), named stages, the final `runtime` (distroless
 * nonroot) and `ops` (Debian 12 slim with redis-server 7.0) stages with a numeric non-root USER, an exec-form
 * HEALTHCHECK running the image list's probe, the OCI labels from SOURCE, VERSION and REVISION, exactly the image file
 * list copied into the app directory, no remote ADD, and no secret-looking ENV or ARG names.
 */
export function checkDockerfile(text: string, imageFiles: ImageFiles): string[] {
  const problems: string[] = [];
  const stages = parseStages(text);
  const names = new Set<string>();
  if (stages.length === 0) problems.push('no FROM: not a Dockerfile');

  for (const instruction of parseInstructions(text)) {
    const at = `line ${instruction.line}`;
    if (instruction.keyword === 'ADD' && /(^|\s)(https?:\/\/|git@|git:\/\/)/.test(instruction.args)) {
      problems.push(`${at}: ADD of a remote URL: download in a build stage with a checksum instead`);
    }
    if (instruction.keyword === 'ENV' || instruction.keyword === 'ARG') {
      for (const key of keyValues(instruction.args).keys()) {
        if (DOCKERFILE_RULES.secretName.test(key)) {
          problems.push(`${at}: ${instruction.keyword} ${key} looks like a secret: it would stay in the image's history`);
        }
      }
    }
    if (instruction.keyword === 'MAINTAINER') problems.push(`${at}: MAINTAINER is deprecated: use a LABEL`);
  }

  for (const stage of stages) {
    const at = `line ${stage.line}`;
    if (stage.name === undefined) problems.push(`${at}: FROM ${stage.base} has no stage name (FROM … AS <name>)`);
    else if (names.has(stage.name)) problems.push(`${at}: stage name ${stage.name} is used twice`);
    else if (stage.name !== stage.name.toLowerCase()) problems.push(`${at}: stage name ${stage.name} must be lower case`);
    const earlierStage = names.has(stage.base);
    if (stage.name !== undefined) names.add(stage.name);
    if (earlierStage || stage.base === 'scratch') continue;
    const reason = unpinnedReason(stage.base);
    if (reason !== undefined) problems.push(`${at}: base image ${stage.base} ${reason}: pin a version tag or a digest`);
  }

  for (const finalName of DOCKERFILE_RULES.finalStages) {
    const stage = stages.find((s) => s.name === finalName);
    if (stage === undefined) {
      problems.push(`no stage named ${finalName}: the deployment files build --target ${finalName}`);
      continue;
    }
    problems.push(...checkFinalStage(stage, imageFiles, new Set(stages.map((s) => s.name ?? ''))));
  }
  return problems;
}

function checkFinalStage(stage: Stage, imageFiles: ImageFiles, stageNames: ReadonlySet<string>): string[] {
  const problems: string[] = [];
  const name = stage.name ?? '';
  const of = (keyword: string) => stage.instructions.filter((i) => i.keyword === keyword);

  if (name === 'runtime' && stage.base.split('@')[0] !== DOCKERFILE_RULES.runtimeBase) {
    problems.push(`runtime: base is ${stage.base}, not ${DOCKERFILE_RULES.runtimeBase}`);
  }
  if (name === 'ops') {
    if (!DOCKERFILE_RULES.opsBase.test(stage.base)) {
      problems.push(`ops: base is ${stage.base}, not Debian 12 slim pinned by a dated tag (debian:12.N-slim)`);
    }
    if (!of('RUN').some((i) => DOCKERFILE_RULES.opsRedis.test(i.args))) {
      problems.push(
        'ops: no RUN installs redis-server pinned to 7.0 (redis-server=5:7.0.*): backups need the platform Redis major',
      );
    }
  }

  const user = of('USER').at(-1);
  const uid = user?.args.trim().split(':')[0];
  if (user === undefined) problems.push(`${name}: no USER: the image would run as root`);
  else if (uid === undefined || !/^\d+$/.test(uid)) {
    problems.push(`${name}: USER ${user.args.trim()} is not a numeric uid (Kubernetes runAsNonRoot can only verify numbers)`);
  } else if (Number(uid) === 0) problems.push(`${name}: USER ${user.args.trim()} is root`);

  const workdir = of('WORKDIR').at(-1)?.args.trim();
  if (workdir !== imageFiles.appDir) problems.push(`${name}: WORKDIR is ${workdir ?? 'unset'}, not ${imageFiles.appDir}`);

  const env = stageEnv(stage);
  for (const [key, value] of Object.entries(DOCKERFILE_RULES.env)) {
    if (env.get(key) !== value) problems.push(`${name}: ENV ${key} is ${env.get(key) ?? 'unset'}, not ${value}`);
  }

  const entrypoint = of('ENTRYPOINT').at(-1);
  const node = entrypoint === undefined ? undefined : argv(entrypoint.args);
  if (node?.form !== 'exec' || node.words.length !== 1) {
    problems.push(`${name}: ENTRYPOINT must be the node binary alone, in exec form (the role is the command)`);
  }
  const cmd = of('CMD').at(-1);
  const command = cmd === undefined ? undefined : argv(cmd.args);
  if (command?.form !== 'exec' || !command.words[0]?.startsWith('dist/')) {
    problems.push(`${name}: CMD must be a compiled entry point in exec form (["dist/…/server.js"])`);
  }

  for (const check of of('HEALTHCHECK')) {
    const cmdPart = /\bCMD\s+(.*)$/i.exec(check.args)?.[1];
    if (check.args.trim().toUpperCase() === 'NONE') continue;
    if (cmdPart === undefined || argv(cmdPart).form !== 'exec') {
      problems.push(`${name}: line ${check.line}: HEALTHCHECK in shell form: use CMD ["node", "…/healthcheck.mjs", "<url>"]`);
    }
  }
  const probe = healthcheckCommand(stage);
  const probeScript = imageFiles.files.find((f) => f.path.endsWith('healthcheck.mjs'));
  if (probe === undefined) {
    if (of('HEALTHCHECK').length === 0) problems.push(`${name}: no HEALTHCHECK`);
  } else if (
    probe[0] !== node?.words[0] ||
    probeScript === undefined ||
    probe[1] !== posix.join(imageFiles.appDir, probeScript.path) ||
    !/^http:\/\//.test(probe[2] ?? '')
  ) {
    problems.push(`${name}: HEALTHCHECK must run the ENTRYPOINT's node on the listed healthcheck.mjs with an http:// URL`);
  }

  const labels = new Map<string, string>();
  for (const i of of('LABEL')) for (const [k, v] of keyValues(i.args)) labels.set(k, v);
  const args = new Set(of('ARG').flatMap((i) => [...keyValues(i.args).keys()]));
  for (const label of DOCKERFILE_RULES.labels) {
    if (!labels.has(label) || labels.get(label) === '') problems.push(`${name}: no OCI label ${label}`);
  }
  for (const [label, arg] of Object.entries(DOCKERFILE_RULES.labelArgs)) {
    const value = labels.get(label);
    if (value !== undefined && !(args.has(arg) && (value === `$${arg}` || value === `\${${arg}}`))) {
      problems.push(`${name}: label ${label} must be \${${arg}}, from an ARG ${arg} declared in the stage`);
    }
  }

  problems.push(...checkCopies(name, copiedPaths(stage), imageFiles, stageNames));
  return problems;
}

function checkCopies(
  name: string,
  copied: readonly CopiedPath[],
  imageFiles: ImageFiles,
  stageNames: ReadonlySet<string>,
): string[] {
  const problems: string[] = [];
  const app = imageFiles.appDir;
  const intoApp = copied.filter((c) => c.target === app || c.target.startsWith(`${app}/`));
  for (const file of imageFiles.files) {
    // posix.join keeps a trailing slash: a directory entry stays marked as one.
    const target = posix.join(app, file.path);
    const wanted = file.from === undefined ? file.path : target;
    const hit = intoApp.filter((c) => c.target === target);
    if (hit.length === 0) {
      problems.push(`${name}: ${file.path} (image file list) is not copied to ${target}`);
    } else if (!hit.some((c) => c.from === file.from && c.source === wanted)) {
      const origin = file.from === undefined ? 'the build context' : `stage ${file.from}`;
      problems.push(`${name}: ${target} must be copied from ${origin} as ${wanted}`);
    }
    if (file.from !== undefined && !stageNames.has(file.from)) {
      problems.push(`${name}: ${file.path} comes from stage ${file.from}, which the Dockerfile does not have`);
    }
  }
  const listed = new Set(imageFiles.files.map((f) => posix.join(app, f.path)));
  for (const c of intoApp) {
    if (!listed.has(c.target)) {
      problems.push(`${name}: line ${c.line}: ${c.source} is copied to ${c.target}, which the image file list does not name`);
    }
  }
  return problems;
}

/** What `.dockerignore` must keep out of the build context: local installs, output, state, secrets, history. */
export const DOCKERIGNORE_REQUIRED = ['.git', '.env', 'node_modules', 'dist', 'var', 'test', 'bench', '**/*.log'] as const;

/**
 * Problems of a `.dockerignore`: one of {@link DOCKERIGNORE_REQUIRED} missing, or a pattern that would hide a path
 * the images copy from the build context (the image file list) or the build stage needs (`src/`, the tsconfigs).
 * Patterns are compared literally, as this project writes them (one path or glob per line, no `!` tricks needed).
 */
export function checkDockerignore(text: string, imageFiles: ImageFiles): string[] {
  const patterns = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  const excluded = patterns.filter((p) => !p.startsWith('!')).map((p) => p.replace(/^\/+|\/+$/g, ''));
  const problems = DOCKERIGNORE_REQUIRED.filter((p) => !excluded.includes(p)).map((p) => `.dockerignore does not exclude ${p}`);
  const needed = [
    ...imageFiles.files.filter((f) => f.from === undefined).map((f) => f.path.replace(/\/$/, '')),
    'src',
    'tsconfig.json',
    'tsconfig.build.json',
  ];
  for (const path of needed) {
    const parts = path.split('/');
    const prefixes = parts.map((_, i) => parts.slice(0, i + 1).join('/'));
    const hiding = excluded.find((p) => prefixes.includes(p) || (p.includes('*') && globMatches(p, path)));
    if (hiding !== undefined) problems.push(`.dockerignore pattern ${hiding} hides ${path}, which the image build copies`);
  }
  return problems;
}

function globMatches(pattern: string, path: string): boolean {
  const re = pattern
    .split('**/')
    .map((part) =>
      part
        .replace(/[.+^${}()|[\]\\]/g, '\\$&')
        .replace(/\*/g, '[^/]*')
        .replace(/\?/g, '[^/]'),
    )
    .join('(?:.*/)?');
  return new RegExp(`^${re}$`).test(path);
}
