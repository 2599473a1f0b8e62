import { applyDecorators } from '@nestjs/common';
import { ApiResponse } from '@nestjs/swagger';
import { ErrorBody } from './error-body.dto.js';

/** What each refusal of a route means there, by status. 401, 413 and 429 are added for every route (see openapi-document.ts). */
/** The 503 of every route that reads or writes the database (DatabaseErrorFilter). */
export const DATABASE_UNAVAILABLE = 'The database is unavailable (`database_unavailable`); retry shortly';

export type ErrorResponses = Partial<Record<400 | 404 | 406 | 409 | 410 | 422 | 503, string>>;

/** Documents a route's refusals, each answered with the one error body. */
export function ApiErrorResponses(responses: ErrorResponses): MethodDecorator & ClassDecorator {
  return applyDecorators(
    ...Object.entries(responses).map(([status, description]) => ApiResponse({ status: Number(status), description, type: ErrorBody })),
  );
}
