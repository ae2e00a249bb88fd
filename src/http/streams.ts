/**
 * Long-lived responses (Server-Sent Events) that the app can host by the thousand and drain.
 *
 * Promises:
 *   - one heartbeat timer for every open stream of the process, not one per stream: a comment line
 *     every `heartbeatMs` keeps proxies (nginx, load balancers) from timing the stream out;
 *   - nginx-friendly headers: no buffering (`X-Accel-Buffering: no`), no caching, no compression;
 *   - a drain (app.close(), SIGINT) ends every open stream with a final `shutdown` event, so the
 *     close never waits on them and clients know to reconnect elsewhere (`retry` says when);
 *   - a stream is not a request: its route is declared `config.stream: true` and is left out of
 *     request-latency metrics (the open-streams gauge counts it instead);
 *   - back-pressure is visible: `send` returns false while the socket's buffer is full, and a stream
 *     whose buffer exceeds `maxBufferedBytes` is closed rather than grown without bound.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Metrics } from '../infra/metrics.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route answers with a long-lived stream: not recorded as request latency. */
    stream?: boolean;
  }
  interface FastifyInstance {
    streams: StreamHub;
  }
}

export interface SseEvent {
  event: string;
  data: unknown;
  /** The position a client resumes from (`Last-Event-ID` on reconnect). */
  id?: string | number;
}

export interface StreamOptions {
  /** Reconnect delay suggested to the client, ms. */
  retryMs?: number;
  /** A stream whose unsent data exceeds this is closed (a reader too slow to keep up). */
  maxBufferedBytes?: number;
}

const DEFAULT_MAX_BUFFERED = 1 << 20;

function frame(e: SseEvent): string {
  const id = e.id === undefined ? '' : `id: ${e.id}\n`;
  return `${id}event: ${e.event}\ndata: ${JSON.stringify(e.data)}\n\n`;
}

export class EventStream {
  private ended = false;
  private readonly closeListeners: (() => void)[] = [];

  constructor(
    private readonly reply: FastifyReply,
    private readonly hub: StreamHub,
    private readonly maxBufferedBytes: number,
  ) {
    reply.raw.on('close', () => this.finish());
  }

  get closed(): boolean {
    return this.ended;
  }

  /** Writes one event; false when the stream is closed or its socket buffer is full. */
  send(e: SseEvent): boolean {
    return this.write(frame(e));
  }

  /** A comment line (ignored by EventSource): keeps intermediaries from closing an idle stream. */
  comment(text = ''): boolean {
    return this.write(`: ${text}\n\n`);
  }

  /** Ends the stream, after an optional final event. */
  close(final?: SseEvent): void {
    if (this.ended) return;
    if (final) this.write(frame(final));
    this.reply.raw.end();
    this.finish();
  }

  onClose(fn: () => void): void {
    if (this.ended) fn();
    else this.closeListeners.push(fn);
  }

  private write(chunk: string): boolean {
    if (this.ended) return false;
    const raw = this.reply.raw;
    if (raw.writableLength > this.maxBufferedBytes) {
      this.hub.dropped += 1;
      this.close();
      return false;
    }
    return raw.write(chunk);
  }

  private finish(): void {
    if (this.ended && this.closeListeners.length === 0) return;
    this.ended = true;
    this.hub.forget(this);
    for (const fn of this.closeListeners.splice(0)) fn();
  }
}

export class StreamHub {
  private readonly open = new Set<EventStream>();
  private timer: NodeJS.Timeout | null = null;
  private draining = false;
  /** Streams closed because their reader could not keep up. */
  dropped = 0;

  constructor(
    private readonly metrics: Metrics,
    private readonly heartbeatMs = 15_000,
  ) {}

  get size(): number {
    return this.open.size;
  }

  /**
   * Turns the reply into an event stream (the reply is hijacked: Fastify sends nothing more). The
   * caller sends events and registers onClose to stop feeding it.
   */
  start(request: FastifyRequest, reply: FastifyReply, options: StreamOptions = {}): EventStream {
    reply.hijack();
    const raw = reply.raw;
    raw.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    const stream = new EventStream(reply, this, options.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED);
    // HEAD: the stream's headers and nothing else (a body would never come, and nor would the end).
    if (request.method === 'HEAD') {
      stream.close();
      return stream;
    }
    raw.write(`retry: ${options.retryMs ?? 2_000}\n\n`);
    request.raw.socket.setKeepAlive(true);
    if (this.draining) {
      stream.close({ event: 'shutdown', data: { reason: 'the server is shutting down; reconnect' } });
      return stream;
    }
    this.open.add(stream);
    this.metrics.openStreams.set(this.open.size);
    this.timer ??= setInterval(() => {
      for (const s of this.open) s.comment('keep-alive');
    }, this.heartbeatMs).unref();
    return stream;
  }

  /** @internal called by a stream when it ends. */
  forget(stream: EventStream): void {
    this.open.delete(stream);
    this.metrics.openStreams.set(this.open.size);
    if (this.open.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }

  /** Ends every open stream with a final `shutdown` event; streams opened afterwards end at once. */
  drain(): void {
    this.draining = true;
    for (const s of [...this.open])
      s.close({ event: 'shutdown', data: { reason: 'the server is shutting down; reconnect' } });
  }
}

/** Decorates `app.streams` and drains it before the server stops (preClose). */
export function installStreams(app: FastifyInstance, metrics: Metrics): StreamHub {
  const hub = new StreamHub(metrics);
  app.decorate('streams', hub);
  app.addHook('preClose', async () => hub.drain());
  return hub;
}
