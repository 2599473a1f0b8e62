import { ArgumentMetadata, Injectable, PipeTransform } from '@nestjs/common';
import { DomainError } from './domain-error.js';

/** Deeper JSON than any request needs; class-transformer would overflow the stack on ~10,000 levels. */
export const MAX_INPUT_DEPTH = 32;
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

/** The first problem in `value`, named by its field path (by its top field when too deep), or undefined. */
function findProblem(value: unknown, path: string, field: string, depth: number): string | undefined {
  if (typeof value === 'string') {
    const problem = problemWith(value);
    return problem && `${path || 'value'} ${problem}`;
  }
  if (value === null || typeof value !== 'object') return undefined;
  if (depth >= MAX_INPUT_DEPTH) return `${field || 'the body'} nests deeper than ${MAX_INPUT_DEPTH} levels`;
  for (const [key, item] of Object.entries(value)) {
    const keyProblem = problemWith(key);
    if (keyProblem) return `a property name in ${path || 'the body'} ${keyProblem}`;
    const found = findProblem(item, path ? `${path}.${key}` : key, field || key, depth + 1);
    if (found) return found;
  }
  return undefined;
}

/**
 * Runs before validation on the body, query and path parameters of every route, and answers 400
 * naming the field for input that would otherwise fail deep inside the service: text the database
 * cannot keep exactly as sent (every message, title, tool output and argument is stored verbatim
 * or not at all), and nesting deep enough to overflow the stack of the validation itself.
 */
@Injectable()
export class SafeInputPipe implements PipeTransform {
  transform(value: unknown, metadata: ArgumentMetadata): unknown {
    if (metadata.type === 'custom') return value;
    const name = metadata.type === 'body' ? '' : (metadata.data ?? '');
    const problem = findProblem(value, name, name, 0);
    if (problem) throw new DomainError('invalid_input', problem);
    return value;
  }
}
