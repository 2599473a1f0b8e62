import { ArgumentMetadata, BadRequestException, Injectable, PipeTransform } from '@nestjs/common';

const MAX_DEPTH = 64;
/** In `u` mode surrogate pairs are one code point, so this matches only a lone surrogate. */
const LONE_SURROGATE = /\p{Cs}/u;

/** Why PostgreSQL could not store `text` as given, or undefined when it can. */
function problemWith(text: string): string | undefined {
  // PostgreSQL refuses NUL in text and jsonb (the write would fail as a 500).
  if (text.includes('\u0000')) return 'must not contain NUL (\\u0000) characters';
  // A lone UTF-16 surrogate has no UTF-8 form: it would be stored as U+FFFD, not as sent.
  if (LONE_SURROGATE.test(text)) return 'must be well-formed Unicode (no lone surrogates)';
  return undefined;
}

function nameOf(path: string, key: string): string {
  return path ? `${path}.${key}` : key;
}

/** The first string (or object key) in `value` that cannot be stored verbatim, with its field path. */
function findUnstorable(value: unknown, path: string, depth = 0): string | undefined {
  if (typeof value === 'string') {
    const problem = problemWith(value);
    return problem && `${path || 'value'} ${problem}`;
  }
  if (value === null || typeof value !== 'object' || depth > MAX_DEPTH) return undefined;
  for (const [key, item] of Object.entries(value)) {
    const keyProblem = problemWith(key);
    if (keyProblem) return `a property name in ${path || 'the body'} ${keyProblem}`;
    const found = findUnstorable(item, nameOf(path, key), depth + 1);
    if (found) return found;
  }
  return undefined;
}

/**
 * Refuses, with a 400 naming the field, text the database cannot keep exactly as sent: every
 * message, title, tool output and argument is stored verbatim or not at all. Applies to bodies,
 * query strings and path parameters of every route.
 */
@Injectable()
export class StorableTextPipe implements PipeTransform {
  transform(value: unknown, metadata: ArgumentMetadata): unknown {
    if (metadata.type === 'custom') return value;
    const problem = findUnstorable(value, metadata.type === 'body' ? '' : (metadata.data ?? ''));
    if (problem) throw new BadRequestException({ statusCode: 400, code: 'invalid_text', message: problem });
    return value;
  }
}
