/**
 * The OpenTelemetry SDK, set up only when tracing is on (config.tracesExporter): loaded by the CLI
 * before the server's modules, so the pg and ioredis instrumentations can patch those libraries
 * as they load (the import-in-the-middle hook for ES modules, require-in-the-middle for the
 * CommonJS they require). Nothing here is imported with tracing off.
 *
 * Spans: @fastify/otel's request span (it continues an incoming `traceparent`), ours (gate,
 * commit, batch, outbox delivery: src/infra/tracing.ts), and pg / ioredis client spans — only
 * under one of those (`requireParentSpan`), so background polling makes no root spans.
 * Sampling, endpoint, headers and batching come from the standard OTEL_* variables, which the SDK
 * reads itself (OTEL_TRACES_SAMPLER, OTEL_TRACES_SAMPLER_ARG, OTEL_EXPORTER_OTLP_ENDPOINT,
 * OTEL_BSP_*, OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES).
 */
import { register } from 'node:module';
import { trace } from '@opentelemetry/api';
import { registerInstrumentations } from '@opentelemetry/instrumentation';
import {
  defaultResource,
  detectResources,
  envDetector,
  resourceFromAttributes,
} from '@opentelemetry/resources';
import { BatchSpanProcessor, ConsoleSpanExporter } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';

export interface OtelSdk {
  /** Flushes the spans still buffered and stops exporting. */
  shutdown(): Promise<void>;
}

/**
 * Registers the global tracer provider and the pg and ioredis instrumentations. Call before
 * anything imports pg or ioredis.
 */
export async function startOtelSdk(exporterName: 'otlp' | 'console'): Promise<OtelSdk> {
  // Hooks ES-module imports so instrumentations see `import pg from 'pg'` (Node ≥ 20.6).
  register('@opentelemetry/instrumentation/hook.mjs', import.meta.url);
  const exporter =
    exporterName === 'console'
      ? new ConsoleSpanExporter()
      : new (await import('@opentelemetry/exporter-trace-otlp-http')).OTLPTraceExporter();
  // OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES win over our default name.
  const resource = defaultResource()
    .merge(resourceFromAttributes({ 'service.name': 'stampede' }))
    .merge(detectResources({ detectors: [envDetector] }));
  const provider = new NodeTracerProvider({
    resource,
    spanProcessors: [new BatchSpanProcessor(exporter)],
  });
  provider.register();
  const [{ PgInstrumentation }, { IORedisInstrumentation }] = await Promise.all([
    import('@opentelemetry/instrumentation-pg'),
    import('@opentelemetry/instrumentation-ioredis'),
  ]);
  const unregister = registerInstrumentations({
    tracerProvider: provider,
    instrumentations: [
      new PgInstrumentation({ requireParentSpan: true }),
      new IORedisInstrumentation({ requireParentSpan: true }),
    ],
  });
  return {
    async shutdown() {
      unregister();
      await provider.shutdown();
      trace.disable();
    },
  };
}
