import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { isMap, isSeq, parse, parseDocument } from 'yaml';
import { formatDuration, parseDuration } from './duration.ts';
import { RULES_DIR } from './paths.ts';

/** What the rule files are prepared for: the committed values, or every `for` cut to {@link TEST_MAX_FOR}. */
export type RuleProfile = 'production' | 'test';

/** The longest `for` of the `test` profile: an end-to-end test sees an alert fire within seconds. */
export const TEST_MAX_FOR = '5s';

/** A recording rule: the series it records and the expression that computes it. */
export interface RecordingExpression {
  readonly record: string;
  readonly expr: string;
}

/** An alerting rule as written in a rule file. */
export interface AlertingRule {
  readonly alert: string;
  readonly expr: string;
  /** The `for` duration as written (`1m`), undefined when the rule has none. */
  readonly for: string | undefined;
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
}

interface RawRule {
  record?: unknown;
  alert?: unknown;
  expr?: unknown;
  for?: unknown;
  labels?: unknown;
  annotations?: unknown;
}

/** Every rule of a Prometheus rule file, groups flattened, in file order. */
function rawRules(rulesYaml: string): RawRule[] {
  const parsed: unknown = parse(rulesYaml);
  const groups = (parsed as { groups?: unknown } | null)?.groups;
  if (!Array.isArray(groups)) throw new Error('not a Prometheus rule file: no "groups" list');
  return groups.flatMap((group: unknown) => {
    const rules = (group as { rules?: unknown } | null)?.rules;
    return Array.isArray(rules) ? (rules as RawRule[]) : [];
  });
}

function stringRecord(value: unknown): Record<string, string> {
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) throw new Error('labels and annotations must be maps');
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, String(v)]));
}

/** The recording rules of a rule file's text: `{ record, expr }` for each, in file order. */
export function recordingExpressions(rulesYaml: string): RecordingExpression[] {
  return rawRules(rulesYaml).flatMap((rule) =>
    typeof rule.record === 'string' ? [{ record: rule.record, expr: String(rule.expr).trim() }] : [],
  );
}

/** The alerting rules of a rule file's text, in file order. */
export function alertingRules(rulesYaml: string): AlertingRule[] {
  return rawRules(rulesYaml).flatMap((rule) =>
    typeof rule.alert === 'string'
      ? [
          {
            alert: rule.alert,
            expr: String(rule.expr).trim(),
            for: rule.for === undefined ? undefined : String(rule.for),
            labels: stringRecord(rule.labels),
            annotations: stringRecord(rule.annotations),
          },
        ]
      : [],
  );
}

/** The committed rule files (`monitoring/prometheus/rules/*.yml`), sorted, as absolute paths. */
export async function ruleFilePaths(rulesDir: string = RULES_DIR): Promise<string[]> {
  const names = (await readdir(rulesDir)).filter((name) => /\.ya?ml$/.test(name)).sort();
  return names.map((name) => join(rulesDir, name));
}

/**
 * Rewrites every `for` longer than `max` to `max`, keeping comments and the
 * rest of the file. Throws on a `for` that is not a duration rather than
 * letting a long wait through.
 */
export function shortenFor(rulesYaml: string, max: string): string {
  const maxMs = parseDuration(max);
  if (maxMs === undefined) throw new Error(`"${max}" is not a Prometheus duration`);
  const doc = parseDocument(rulesYaml);
  const [error] = doc.errors;
  if (error !== undefined) throw error;
  const groups = doc.get('groups');
  if (!isSeq(groups)) throw new Error('not a Prometheus rule file: no "groups" list');
  for (const group of groups.items) {
    const rules = isMap(group) ? group.get('rules') : undefined;
    if (!isSeq(rules)) continue;
    for (const rule of rules.items) {
      if (!isMap(rule) || !rule.has('for')) continue;
      const value = String(rule.get('for'));
      const ms = parseDuration(value);
      if (ms === undefined) throw new Error(`"for: ${value}" is not a Prometheus duration`);
      if (ms > maxMs) rule.set('for', formatDuration(maxMs));
    }
  }
  return doc.toString({ lineWidth: 0 });
}

/**
 * Copies the repository's rule files into `destDir` (created if needed) for
 * a Prometheus to load. `production` copies them unchanged; `test` rewrites
 * every `for` to at most 5s so that an end-to-end test sees an alert fire
 * within seconds. The committed files are never modified.
 *
 * @returns the absolute paths written, sorted, for `rule_files`.
 */
export async function prepareRuleFiles(destDir: string, profile: RuleProfile): Promise<string[]> {
  const sources = await ruleFilePaths();
  if (sources.length === 0) throw new Error(`no rule files in ${RULES_DIR}`);
  const dest = resolve(destDir);
  await mkdir(dest, { recursive: true });
  const written: string[] = [];
  for (const source of sources) {
    const text = await readFile(source, 'utf8');
    const name = basename(source);
    const target = join(dest, name);
    if (profile === 'production') {
      await writeFile(target, text);
    } else {
      let shortened: string;
      try {
        shortened = shortenFor(text, TEST_MAX_FOR);
      } catch (err) {
        throw new Error(`${source}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
      }
      const header = `# Generated from ${name} for the test profile: every "for" is at most ${TEST_MAX_FOR}.\n`;
      await writeFile(target, header + shortened);
    }
    written.push(target);
  }
  return written;
}
