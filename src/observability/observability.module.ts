import { Global, MiddlewareConsumer, Module, NestModule, RequestMethod } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { makeCounterProvider, PrometheusModule } from '@willsoto/nestjs-prometheus';
import { LoggerModule } from 'nestjs-pino';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Settings } from '../config/settings.js';
import { HealthController } from './health.controller.js';
import { HttpMetricsMiddleware, httpRequestDuration } from './http-metrics.middleware.js';
import { errorSerializers } from './log-redaction.js';
import { ShutdownState } from './shutdown-state.js';
import { startTracing, traceIds, Tracing } from './tracing.js';
import { UnexpectedErrors } from './unexpected-errors.js';

const REQUEST_ID = /^[\w.:-]{1,100}$/;

/** Structured logs with a request id, `/health/*`, `/metrics`, traces when a collector is set, and the stop on unexpected errors. */
@Global()
@Module({
  imports: [
    LoggerModule.forRootAsync({
      inject: [Settings],
      useFactory: (settings: Settings) => ({
        pinoHttp: {
          level: settings.LOG_LEVEL,
          genReqId: (req: IncomingMessage, res: ServerResponse) => {
            const given = req.headers['x-request-id'];
            const id = typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
            res.setHeader('X-Request-Id', id);
            return id;
          },
          // No user content in logs: errors are logged by an allow-list of their fields.
          serializers: errorSerializers,
          // Keys never reach the logs.
          redact: ['req.headers.authorization', 'req.headers.cookie'],
          autoLogging: { ignore: (req: IncomingMessage) => req.url?.startsWith('/health') === true },
          // With tracing on, each line written inside a span names it (`trace_id`, `span_id`).
          mixin: settings.OTEL_EXPORTER_OTLP_ENDPOINT ? traceIds : undefined,
        },
      }),
    }),
    TerminusModule,
    PrometheusModule.register({ path: '/metrics', defaultMetrics: { enabled: true } }),
  ],
  controllers: [HealthController],
  providers: [
    ShutdownState,
    { provide: Tracing, inject: [Settings], useFactory: startTracing },
    httpRequestDuration,
    HttpMetricsMiddleware,
    UnexpectedErrors,
    makeCounterProvider({
      name: 'process_unhandled_errors_total',
      help: 'Rejections nobody handled and exceptions nobody caught; each one stops the process gracefully',
      labelNames: ['kind'],
    }),
  ],
  exports: [ShutdownState, UnexpectedErrors],
})
export class ObservabilityModule implements NestModule {
  configure(consumer: MiddlewareConsumer): void {
    consumer.apply(HttpMetricsMiddleware).forRoutes({ path: '*path', method: RequestMethod.ALL });
  }
}
