/**
 * A lean Server-Sent Events client for holding thousands of streams from one process: one raw TCP
 * socket per stream (node:net, HTTP/1.1, chunked or plain body), no per-stream timers, events
 * parsed as they arrive. What `EventSource` does, minus reconnects: a benchmark wants to see a
 * stream that ended, not hide it.
 */
import net from 'node:net';
import { StringDecoder } from 'node:string_decoder';
import { type SseEvent as ParsedEvent, SseParser } from '../../src/drill/sse.js';

export interface SseEvent extends ParsedEvent {
  /** Date.now() when the event's last line arrived. */
  at: number;
}

export interface SseHandlers {
  /** The status line and headers arrived. */
  onOpen?(status: number): void;
  onEvent?(e: SseEvent): void;
  /** The stream ended (server closed, error, or close() was called); `error` when it was an error. */
  onClose?(error?: string): void;
}

export interface SseStream {
  /** The answer's status; 0 until it arrived. */
  readonly status: number;
  readonly open: boolean;
  close(): void;
}

const CRLF = Buffer.from('\r\n');
const HEAD_END = Buffer.from('\r\n\r\n');

/**
 * Opens `GET path` on 127.0.0.1:`port` as an event stream. Never throws: every failure ends in
 * onClose(error).
 */
export function openSse(port: number, path: string, h: SseHandlers): SseStream {
  const sock = net.connect({ host: '127.0.0.1', port });
  sock.setNoDelay(true);
  const decoder = new StringDecoder('utf8');
  let status = 0;
  let open = true;
  let head: Buffer<ArrayBufferLike> | null = Buffer.alloc(0);
  let chunked = false;
  /** Body bytes not yet de-chunked. */
  let raw: Buffer<ArrayBufferLike> = Buffer.alloc(0);
  let state: 'size' | 'data' | 'crlf' = 'size';
  let left = 0;
  const parser = new SseParser();
  let text = '';

  const end = (error?: string) => {
    if (!open) return;
    open = false;
    sock.destroy();
    h.onClose?.(error);
  };

  const lines = () => {
    const at = Date.now();
    for (const e of parser.push(text)) h.onEvent?.({ ...e, at });
    text = '';
  };

  /** Moves whole and partial chunks from `raw` into `text`; false once the last chunk arrived. */
  const dechunk = (): boolean => {
    for (;;) {
      if (state === 'size') {
        const i = raw.indexOf(CRLF);
        if (i < 0) return true;
        left = Number.parseInt(raw.subarray(0, i).toString('latin1'), 16);
        raw = raw.subarray(i + 2);
        if (!Number.isFinite(left)) {
          end('bad chunk size');
          return false;
        }
        if (left === 0) return false;
        state = 'data';
      } else if (state === 'data') {
        if (raw.length === 0) return true;
        const n = Math.min(left, raw.length);
        text += decoder.write(raw.subarray(0, n));
        raw = raw.subarray(n);
        left -= n;
        if (left === 0) state = 'crlf';
      } else {
        if (raw.length < 2) return true;
        raw = raw.subarray(2);
        state = 'size';
      }
    }
  };

  sock.on('connect', () => {
    sock.write(`GET ${path} HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\naccept: text/event-stream\r\n\r\n`);
  });
  sock.on('data', (b: Buffer) => {
    if (head) {
      head = Buffer.concat([head, b]);
      const i = head.indexOf(HEAD_END);
      if (i < 0) return;
      const headLines = head.subarray(0, i).toString('latin1').split('\r\n');
      status = Number(headLines[0].split(' ')[1]);
      chunked = headLines.some((l) => /^transfer-encoding:\s*chunked/i.test(l));
      b = head.subarray(i + 4);
      head = null;
      h.onOpen?.(status);
      if (status !== 200) return end(`status ${status}`);
    }
    let more = true;
    if (chunked) {
      raw = raw.length ? Buffer.concat([raw, b]) : b;
      more = dechunk();
    } else text += decoder.write(b);
    lines();
    if (!more) end();
  });
  sock.on('error', (err) => end(err.message));
  sock.on('close', () => end());
  return {
    get status() {
      return status;
    },
    get open() {
      return open;
    },
    close: () => end(),
  };
}
