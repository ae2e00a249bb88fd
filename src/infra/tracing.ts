/**
 * Where tracing hooks in. Modules and infra wrap the steps worth seeing in a trace (a gate call, a
 * group commit, an outbox delivery) with this interface; the default tracer does nothing but call
 * the function, so with tracing off the hot path pays one closure and no OpenTelemetry code runs.
 * With tracing on (OTEL_* variables, see src/infra/otel.ts) `otelTracer()` implements it on the
 * OpenTelemetry API, and the SDK set up at start-up decides sampling and export.
 *
 * A group commit carries many requests' items into one transaction, outside each request's async
 * context: `carry()` takes the request's span context when the item is submitted, and `batch()`
 * runs the transaction in a span that links every carried context, and is a child of the first
 * sampled one (so a sampled request's trace shows the commit that made it durable, SQL included).
 */
import {
  type Attributes,
  context,
  createContextKey,
  type Link,
  propagation,
  ROOT_CONTEXT,
  type Span,
  type SpanContext,
  SpanStatusCode,
  TraceFlags,
  trace,
} from '@opentelemetry/api';

/** A request's span context, carried with an item that leaves the request's async context. */
export type Carried = SpanContext;

export interface Tracer {
  /** False for the no-op tracer: callers may skip building attributes. */
  readonly enabled: boolean;
  /** Runs fn in a child span of the active one; fn may add attributes (an outcome) with `set`. */
  span<T>(
    name: string,
    fn: (set: (attributes: Attributes) => void) => Promise<T>,
    attributes?: Attributes,
  ): Promise<T>;
  /** The active span's context (undefined when there is none, or tracing is off). */
  carry(): Carried | undefined;
  /** Runs fn in one span for work done on behalf of the carried contexts (a group commit's batch). */
  batch<T>(name: string, carried: readonly (Carried | undefined)[], fn: () => Promise<T>): Promise<T>;
  /** W3C traceparent of the active span, or of a carried context; null when there is none. */
  traceparent(carried?: Carried): string | null;
  /**
   * Runs fn in a span continuing the trace `traceparent` names (a stored outbox event's), and hands
   * fn the headers to send on (traceparent, tracestate). With tracing off the stored traceparent
   * is passed through as it is.
   */
  continued<T>(
    name: string,
    traceparent: string | null,
    fn: (headers: Record<string, string>) => Promise<T>,
    attributes?: Attributes,
  ): Promise<T>;
}

const ignore = () => {};

export const noopTracer: Tracer = {
  enabled: false,
  span: (_name, fn) => fn(ignore),
  carry: () => undefined,
  batch: (_name, _carried, fn) => fn(),
  traceparent: () => null,
  continued: (_name, traceparent, fn) => fn(traceparent ? { traceparent } : {}),
};

/** The W3C traceparent header of a span context (by hand: once per item of a traced batch). */
function formatTraceparent(sc: SpanContext): string {
  return `00-${sc.traceId}-${sc.spanId}-${(sc.traceFlags & 0xff).toString(16).padStart(2, '0')}`;
}

/** Where an unsampled request's span context is kept once its span is out of the context. */
const UNSAMPLED = createContextKey('stampede: the unsampled request span');

/**
 * Runs fn (the rest of a request) without the request's span in the context when that span is not
 * sampled, keeping only its span context aside for `carry()` and `traceparent()`. The pg and
 * ioredis instrumentations count any span as a parent (requireParentSpan), sampled or not, and
 * built a non-recording span, attributes included, for every query of every unsampled request:
 * that was the largest single cost of tracing at a 10 % sampling ratio.
 */
export function runUnsampledBare(fn: () => void): void {
  const span = trace.getActiveSpan();
  if (!span || span.isRecording()) fn();
  else context.with(trace.deleteSpan(context.active()).setValue(UNSAMPLED, span.spanContext()), fn);
}

/** The active span's context, or the unsampled request's kept aside by runUnsampledBare. */
function activeSpanContext(): SpanContext | undefined {
  return (
    trace.getActiveSpan()?.spanContext() ?? (context.active().getValue(UNSAMPLED) as SpanContext | undefined)
  );
}

const sampled = (sc: SpanContext) => (sc.traceFlags & TraceFlags.SAMPLED) === TraceFlags.SAMPLED;

/** Runs fn in `span`, recording a thrown error on it, and ends it. */
async function inSpan<T>(span: Span, fn: () => Promise<T>): Promise<T> {
  const ctx = trace.setSpan(context.active(), span);
  try {
    return await context.with(ctx, fn);
  } catch (err) {
    span.recordException(err as Error);
    span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error)?.message });
    throw err;
  } finally {
    span.end();
  }
}

/** The Tracer on the OpenTelemetry API; whatever TracerProvider is registered globally does the rest. */
export function otelTracer(name = 'stampede'): Tracer {
  const tracer = trace.getTracer(name);
  return {
    enabled: true,
    span(spanName, fn, attributes) {
      // A request that is not sampled gets no child spans of ours: they could not be sampled
      // under a parent-based sampler anyway, and most requests are not sampled.
      if (!trace.getActiveSpan()?.isRecording()) return fn(ignore);
      const span = tracer.startSpan(spanName, { attributes });
      return inSpan(span, () => fn((a) => span.setAttributes(a)));
    },
    carry() {
      return activeSpanContext();
    },
    batch(spanName, carried, fn) {
      const links: Link[] = [];
      let parent: SpanContext | undefined;
      for (const sc of carried) {
        if (!sc) continue;
        links.push({ context: sc });
        if (!parent || (!sampled(parent) && sampled(sc))) parent = sc;
      }
      // Carrying requests of which none is sampled: no span, and the batch's SQL runs outside any
      // request's context (the flush may run in whichever request's context armed its timer), so
      // the client instrumentations (requireParentSpan) make no spans for it either.
      if (parent && !sampled(parent)) return context.with(ROOT_CONTEXT, fn);
      // Child of the first sampled request (its trace shows its commit); a root span when the batch
      // carries no request (background work), sampled by the root sampler then.
      const ctx = parent ? trace.setSpanContext(ROOT_CONTEXT, parent) : ROOT_CONTEXT;
      const span = tracer.startSpan(
        spanName,
        { links, attributes: { 'stampede.batch.size': carried.length } },
        ctx,
      );
      return context.with(ctx, () => inSpan(span, fn));
    },
    traceparent(carried) {
      const sc = carried ?? activeSpanContext();
      return sc && trace.isSpanContextValid(sc) ? formatTraceparent(sc) : null;
    },
    continued(spanName, traceparent, fn, attributes) {
      // The registered W3C propagator reads the stored header (an invalid one gives no parent) and
      // writes the delivery span's.
      const ctx = traceparent ? propagation.extract(ROOT_CONTEXT, { traceparent }) : ROOT_CONTEXT;
      const span = tracer.startSpan(spanName, { attributes }, ctx);
      return context.with(ctx, () =>
        inSpan(span, () => {
          const headers: Record<string, string> = {};
          propagation.inject(context.active(), headers);
          return fn(headers);
        }),
      );
    },
  };
}
