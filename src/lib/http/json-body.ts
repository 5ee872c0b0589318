import { appError } from '../errors/index.ts';

// fatal: a byte sequence that is not UTF-8 (a stray 0xFF, a truncated sequence, an encoded surrogate) throws
// instead of becoming U+FFFD. Stateless between calls (no `stream` option), so one decoder serves every request.
const decoder = new TextDecoder('utf-8', { fatal: true });

// What can hide a forbidden key or a lone surrogate in the text: a `\u` escape, or the keys themselves. A body
// with none of them (nearly all) is parsed and returned without walking its tree.
const SUSPECT = /\\u|__proto__|constructor/;
const LONE_SURROGATE = /\p{Cs}/u;

/**
 * Parses a JSON request body read as bytes, as the platform's JSON content-type parser:
 * - invalid UTF-8 → `UNICODE_INVALID`, and so is a `\uD800`-style escape that leaves a lone surrogate in a
 *   string or a key (text that cannot be stored or answered as UTF-8);
 * - malformed JSON → `INVALID_JSON`, and so is an object with a `__proto__` key or a `constructor.prototype`
 *   (what Fastify's default parser, secure-json-parse, refuses: prototype poisoning);
 * - a leading byte-order mark is dropped.
 * An empty body is the caller's decision (no body at all); it is not handled here.
 *
 * @throws AppError `UNICODE_INVALID` or `INVALID_JSON`.
 */
export function parseJsonBody(body: Buffer): unknown {
  let text: string;
  try {
    text = decoder.decode(body);
  } catch {
    throw appError('UNICODE_INVALID');
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw appError('INVALID_JSON', { cause: err });
  }
  if (SUSPECT.test(text)) inspect(value);
  return value;
}

/** Walks the parsed tree without recursion (a deeply nested body must not overflow the stack). */
function inspect(root: unknown): void {
  const pending: unknown[] = [root];
  while (pending.length > 0) {
    const node = pending.pop();
    if (typeof node === 'string') {
      if (LONE_SURROGATE.test(node)) throw appError('UNICODE_INVALID');
      continue;
    }
    if (typeof node !== 'object' || node === null) continue;
    if (Array.isArray(node)) {
      for (const item of node) pending.push(item);
      continue;
    }
    for (const key of Object.keys(node)) {
      if (key === '__proto__') throw appError('INVALID_JSON');
      if (LONE_SURROGATE.test(key)) throw appError('UNICODE_INVALID');
      const child = (node as Record<string, unknown>)[key];
      if (key === 'constructor' && typeof child === 'object' && child !== null && Object.hasOwn(child, 'prototype')) {
        throw appError('INVALID_JSON');
      }
      pending.push(child);
    }
  }
}
