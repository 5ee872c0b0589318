import { Ajv, type Options } from 'ajv';
import type { FastifySchemaCompiler } from 'fastify';
import { ERRORS, type ErrorCode } from '../errors/index.ts';
import { isMultiLineText, isSingleLineText } from '../text/index.ts';
import { isQuoteId } from './schemas.ts';

/**
 * The platform's own string formats (`format` in a route schema), each with the catalogue error a value
 * breaking it answers: the rule is checked once, by the schema, before any handler runs.
 */
const FORMATS: Readonly<Record<string, { validate: (value: string) => boolean; error: ErrorCode }>> = {
  'quote-id': { validate: isQuoteId, error: 'QUOTE_ID_INVALID' },
  'single-line-text': { validate: isSingleLineText, error: 'TEXT_INVALID_CHARACTERS' },
  'multi-line-text': { validate: isMultiLineText, error: 'TEXT_INVALID_CHARACTERS' },
};

// Bodies are checked strictly (a number where a string is expected is a 400);
// query strings and path parameters are text on the wire, so they are coerced.
const common: Options = { removeAdditional: true, useDefaults: true, allErrors: false, strict: false };
// verbose: issues carry the offending value, so a blank string can be told apart from a malformed one.
const bodyAjv = new Ajv({ ...common, coerceTypes: false, verbose: true });
const textAjv = new Ajv({ ...common, coerceTypes: true });
for (const ajv of [bodyAjv, textAjv]) {
  for (const [name, { validate }] of Object.entries(FORMATS)) ajv.addFormat(name, { type: 'string', validate });
}

export const validatorCompiler: FastifySchemaCompiler<unknown> = ({ schema, httpPart }) => {
  const ajv = httpPart === 'body' ? bodyAjv : textAjv;
  const validate = ajv.compile(schema as object);
  return (data: unknown) =>
    (validate(data)
      ? { value: data }
      : { error: Object.assign(new Error('validation failed'), { validation: validate.errors }) }) as never;
};

interface AjvIssue {
  keyword: string;
  instancePath: string;
  params: Record<string, unknown>;
  message?: string;
  /** The offending value (body issues only). */
  data?: unknown;
}

/** True when the issue means "a required field is absent or empty". */
export function isMissingField(issue: AjvIssue): boolean {
  if (issue.keyword === 'required') return true;
  if (issue.keyword === 'minLength' && issue.params.limit === 1) return true;
  // Only blanks where a pattern or format is expected (an id of spaces, a quote of tabs) is an empty field, as
  // the contract reads it.
  if ((issue.keyword === 'pattern' || issue.keyword === 'format') && typeof issue.data === 'string' && issue.data.trim() === '') {
    return true;
  }
  // No body at all, or a body that is not an object.
  return issue.keyword === 'type' && issue.instancePath === '';
}

/** A French message naming the field and what is wrong with it. */
export function describeIssue(issue: AjvIssue, part: string): string {
  const field = issue.instancePath.replace(/^\//, '').replace(/\//g, '.') || part;
  const p = issue.params;
  switch (issue.keyword) {
    case 'required':
      return `Champ '${String(p.missingProperty)}' requis`;
    case 'type':
      return `'${field}' doit être de type ${String(p.type)}`;
    case 'maxLength':
      return `'${field}' doit faire au plus ${String(p.limit)} caractères`;
    case 'minLength':
      return `'${field}' doit faire au moins ${String(p.limit)} caractères`;
    case 'format': {
      const own = FORMATS[String(p.format)];
      return own === undefined ? `'${field}' a un format invalide` : ERRORS[own.error].message;
    }
    case 'pattern':
      return `'${field}' a un format invalide`;
    case 'minimum':
      return `'${field}' doit être supérieur ou égal à ${String(p.limit)}`;
    case 'maximum':
      return `'${field}' doit être inférieur ou égal à ${String(p.limit)}`;
    case 'enum':
      return `'${field}' doit être l'une des valeurs : ${(p.allowedValues as unknown[]).join(', ')}`;
    case 'anyOf':
    case 'oneOf':
      return `'${field}' a un type ou un format invalide`;
    default:
      return `'${field}' est invalide`;
  }
}
