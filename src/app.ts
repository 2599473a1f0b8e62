import 'reflect-metadata';
import { ValidationPipe } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { SwaggerModule } from '@nestjs/swagger';
import helmet from 'helmet';
import { Logger } from 'nestjs-pino';
import { AppModule } from './app.module.js';
import { requireApiKey } from './auth/api-key.guard.js';
import { ApiKeys } from './auth/api-keys.js';
import { SafeInputPipe } from './common/safe-input.pipe.js';
import { openApiDocument } from './common/openapi-document.js';
import { Settings } from './config/settings.js';
import { validationError } from './errors/validation-errors.js';
import { httpServerSpans } from './observability/http-spans.js';

/** Builds the whole service from validated settings; `main.ts` and the tests share it. */
export async function createApp(settings: Settings): Promise<NestExpressApplication> {
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot(settings), {
    bufferLogs: true,
    bodyParser: false,
  });
  app.useLogger(app.get(Logger));
  // First, so that the request's span covers reading its body and is active for all that follows.
  if (settings.OTEL_EXPORTER_OTLP_ENDPOINT) app.use(httpServerSpans());
  // Helmet's defaults suit Swagger UI (its scripts are served from /docs, its styles are inline),
  // except upgrade-insecure-requests, which breaks the UI on a plain-http address other than localhost.
  app.use(helmet({ contentSecurityPolicy: { directives: { upgradeInsecureRequests: null } } }));
  app.useBodyParser('json', { limit: '1mb' });
  app.useGlobalPipes(
    new SafeInputPipe(),
    new ValidationPipe({ whitelist: true, forbidNonWhitelisted: true, transform: true, exceptionFactory: validationError }),
  );
  if (!settings.DOCS_PUBLIC) app.use(['/docs', '/docs-json', '/docs-yaml'], requireApiKey(app.get(ApiKeys)));
  SwaggerModule.setup('docs', app, openApiDocument(app, settings));
  return app;
}
