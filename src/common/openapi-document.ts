import type { INestApplication } from '@nestjs/common';
import {
  DocumentBuilder,
  getSchemaPath,
  SwaggerModule,
  type OpenAPIObject,
  type OperationObject,
  type ResponseObject,
} from '@nestjs/swagger';
import type { Settings } from '../config/settings.js';
import { ErrorBody } from './error-body.dto.js';

const API_KEY = 'apiKey';
const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;

function errorResponse(description: string, extra: Partial<ResponseObject> = {}): ResponseObject {
  return { description, content: { 'application/json': { schema: { $ref: getSchemaPath(ErrorBody) } } }, ...extra };
}

/**
 * The rules of the global guards and the body parser, which no route's decorators state:
 * `ApiKeyGuard` leaves `/health/*` open, and `/metrics` while METRICS_PUBLIC is true, and locks
 * every other route; `RateLimitGuard` limits every route but `/health/*`; the JSON body parser
 * refuses bodies over 1 MB (see app.ts). test/openapi.spec.ts holds them to the running service.
 */
function addGuardedResponses(path: string, operation: OperationObject, settings: Settings): void {
  const health = path.startsWith('/health/');
  const open = health || (path === '/metrics' && settings.METRICS_PUBLIC);
  operation.security = open ? [] : [{ [API_KEY]: [] }];
  const responses = { ...operation.responses };
  if (!open) responses['401'] = errorResponse('No API key, or not a valid one (when the service runs with API_KEYS)');
  if (operation.requestBody) responses['413'] = errorResponse('The JSON body is larger than 1 MB');
  if (!health) {
    responses['429'] = errorResponse('More requests than RATE_LIMIT_PER_MINUTE from this key (or this address, without one)', {
      headers: { 'Retry-After': { description: 'Seconds until the caller may send again', schema: { type: 'integer' } } },
    });
  }
  operation.responses = Object.fromEntries(Object.entries(responses).sort(([a], [b]) => a.localeCompare(b)));
}

/** The OpenAPI document `/docs` serves, true to this instance's settings. */
export function openApiDocument(app: INestApplication, settings: Settings): OpenAPIObject {
  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('Agent runtime')
      .setDescription('Conversations with a team of LLM agents, streamed over Server-Sent Events.')
      .setVersion('1')
      .addServer('/', 'The instance serving this document')
      // addBearerAuth would call the key a JWT; it is an opaque string.
      .addSecurity(API_KEY, {
        type: 'http',
        scheme: 'bearer',
        description:
          'A key of API_KEYS as `Authorization: Bearer <key>`: an opaque string that names the owner whose sessions the request sees. ' +
          'Without API_KEYS the service runs open and every request acts as owner `local`.',
      })
      .build(),
    { extraModels: [ErrorBody] },
  );
  // The metrics route is the Prometheus library's controller, which carries no OpenAPI decorators.
  const metrics = document.paths['/metrics']?.get;
  if (metrics) {
    metrics.summary = 'Prometheus metrics, in the text exposition format';
    metrics.tags = ['operations'];
    metrics.responses = { '200': { description: 'The metrics', content: { 'text/plain': { schema: { type: 'string' } } } } };
  }
  for (const [path, item] of Object.entries(document.paths)) {
    for (const method of METHODS) {
      const operation = item[method];
      if (operation) addGuardedResponses(path, operation, settings);
    }
  }
  return document;
}
