import { Logger, OnApplicationShutdown } from '@nestjs/common';
import { context, diag, DiagLogLevel, isSpanContextValid, trace } from '@opentelemetry/api';
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Settings } from '../config/settings.js';

/** How long a stop waits for the last spans to reach the collector: a slow collector must not hold a stop. */
const FLUSH_BOUND_MS = 2_000;

/**
 * The trace export, when OTEL_EXPORTER_OTLP_ENDPOINT is set: the SDK's tracer provider, registered
 * globally, so that the spans the code starts through `@opentelemetry/api` are recorded and sent in
 * batches. Unset, nothing is registered and the API's tracers are its no-ops. The last spans are
 * sent when the service stops, within FLUSH_BOUND_MS.
 */
export class Tracing implements OnApplicationShutdown {
  private readonly logger = new Logger(Tracing.name);

  constructor(private readonly provider?: { shutdown(): Promise<void> }) {}

  get enabled(): boolean {
    return this.provider !== undefined;
  }

  async onApplicationShutdown(): Promise<void> {
    if (!this.provider) return;
    const flushed = await Promise.race([
      this.provider.shutdown().then(
        () => true,
        () => false,
      ),
      sleep(FLUSH_BOUND_MS, false, { ref: false }),
    ]);
    if (!flushed) this.logger.warn({ msg: 'the last spans could not be sent before the stop', boundMs: FLUSH_BOUND_MS });
  }
}

/** Starts the export when an endpoint is set. The SDK is imported only then: without one it costs nothing, not even its loading. */
export async function startTracing(settings: Settings): Promise<Tracing> {
  const endpoint = settings.OTEL_EXPORTER_OTLP_ENDPOINT;
  if (!endpoint) return new Tracing();
  const [{ BatchSpanProcessor, NodeTracerProvider }, { OTLPTraceExporter }, { resourceFromAttributes }] = await Promise.all([
    import('@opentelemetry/sdk-trace-node'),
    import('@opentelemetry/exporter-trace-otlp-proto'),
    import('@opentelemetry/resources'),
  ]);
  const logger = new Logger(Tracing.name);
  // The SDK reports failed exports through `diag`, silent unless given a logger.
  const warn = (message: string) => logger.warn({ msg: 'trace export problem', problem: message });
  const quiet = () => undefined;
  diag.setLogger({ error: warn, warn, info: quiet, debug: quiet, verbose: quiet }, DiagLogLevel.WARN);
  const exporter = new OTLPTraceExporter({ url: `${endpoint.replace(/\/+$/, '')}/v1/traces` });
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: settings.OTEL_SERVICE_NAME }),
    spanProcessors: [new BatchSpanProcessor(exporter, { scheduledDelayMillis: settings.OTEL_BSP_SCHEDULE_DELAY })],
  });
  // The AsyncLocalStorage context manager and the W3C `traceparent` propagator.
  provider.register();
  // The origin only: a URL may carry credentials.
  logger.log({ msg: 'tracing on', collector: new URL(endpoint).origin, serviceName: settings.OTEL_SERVICE_NAME });
  return new Tracing(provider);
}

/** The trace and span ids of the span active where a log line is written (pino's `mixin`). */
export function traceIds(): { trace_id?: string; span_id?: string } {
  const span = trace.getSpan(context.active())?.spanContext();
  return span && isSpanContextValid(span) ? { trace_id: span.traceId, span_id: span.spanId } : {};
}
