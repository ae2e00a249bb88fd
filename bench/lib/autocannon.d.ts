/**
 * The part of autocannon 8's API the benchmarks use (the package ships no types). Responses are
 * timed in milliseconds; `context` is one object per connection, passed to setupRequest and
 * onResponse of the request on that connection.
 */
declare module 'autocannon' {
  import type { EventEmitter } from 'node:events';

  namespace autocannon {
    interface Request {
      method?: string;
      path?: string;
      headers?: Record<string, string>;
      body?: string | Buffer;
    }
    type Context = Record<string, unknown>;
    interface RequestSpec extends Request {
      /** Builds the next request of this connection; returning a falsy value skips it. */
      setupRequest?(request: Request, context: Context): Request;
      onResponse?(status: number, body: string, context: Context, headers: Record<string, string>): void;
    }
    interface Options {
      url: string;
      connections?: number;
      /** Seconds; ignored when `amount` is set. */
      duration?: number;
      /** Total requests; autocannon stops once they are answered. */
      amount?: number;
      /** Seconds per request. */
      timeout?: number;
      pipelining?: number;
      requests?: RequestSpec[];
    }
    interface Result {
      /** Seconds the run lasted, as autocannon measured it (whole ticks). */
      duration: number;
      errors: number;
      timeouts: number;
      statusCodeStats?: Record<string, { count: number }>;
    }
    interface Instance extends EventEmitter, PromiseLike<Result> {
      on(
        event: 'response',
        listener: (client: unknown, statusCode: number, resBytes: number, responseTimeMs: number) => void,
      ): this;
      stop(): void;
    }
  }

  function autocannon(
    options: autocannon.Options,
    done?: (err: Error | null, result: autocannon.Result) => void,
  ): autocannon.Instance;

  export = autocannon;
}
