/**
 * Where tracing hooks in. Modules and infra wrap the steps worth seeing in a trace (a gate call, a
 * group commit) in `tracer.span(name, fn)`; the default tracer does nothing but call fn, so the hot
 * path pays one closure. An OpenTelemetry tracer can replace it in createInfra without touching
 * the callers.
 */
export interface Tracer {
  span<T>(name: string, fn: () => Promise<T>): Promise<T>;
}

export const noopTracer: Tracer = {
  span: (_name, fn) => fn(),
};
