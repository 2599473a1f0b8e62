import type { ValidationError } from 'class-validator';
import { DomainError, type FieldProblem } from '../common/domain-error.js';

/** Constraints about the kind of value; when one fails, the others (lengths, patterns) are noise. */
const TYPE_CONSTRAINTS = new Set(['isString', 'isInt', 'isNumber', 'isBoolean', 'isObject', 'isArray', 'isIn', 'isEnum', 'isUUID']);

function problemsOf(error: ValidationError, parent: string): FieldProblem[] {
  const field = parent ? `${parent}.${error.property}` : error.property;
  const constraints = error.constraints ?? {};
  const names = Object.keys(constraints);
  const nested = (error.children ?? []).flatMap((child) => problemsOf(child, field));
  if (names.length === 0) return nested;
  if (names.includes('whitelistValidation')) return [{ field, message: `${field} is not a field of this request` }];
  if (error.value === undefined || error.value === null) return [{ field, message: `${field} is missing` }];
  const typeFailures = names.filter((name) => TYPE_CONSTRAINTS.has(name));
  return [...(typeFailures.length ? typeFailures : names).map((name) => ({ field, message: constraints[name] })), ...nested];
}

/** ValidationPipe's `exceptionFactory`: 400 `invalid_input`, one detail per field problem. */
export function validationError(errors: ValidationError[]): DomainError {
  const details = errors.flatMap((error) => problemsOf(error, ''));
  return new DomainError('invalid_input', details.map((d) => d.message).join('; ') || 'the request is not valid', details);
}
