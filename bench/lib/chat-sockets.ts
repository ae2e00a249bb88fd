/**
 * A lean chat client for holding thousands of WebSocket connections from one process: the `ws`
 * package with compression off and UTF-8 validation skipped, no per-socket timers (the server's
 * pings are answered by ws itself), one JSON.parse per frame. Each socket subscribes to one room as
 * soon as it is open and keeps, for the audit, what it saw of that room's seq: from where it was
 * subscribed, how many messages, and every duplicate, gap or reordering. What a browser's client
 * does, minus reconnects: a benchmark wants to see a socket that ended, not hide it.
 */
import WebSocket from 'ws';
import { log } from './run.js';

/** The fields of a server frame the benchmark reads (docs/api.md, "WebSocket /api/v1/chat/ws"). */
export interface ChatFrame {
  type: string;
  roomId?: string;
  seq?: number;
  lastSeq?: number;
  clientMsgId?: string;
  code?: string;
  detail?: string;
}

/** One socket and what it saw of its room. */
export class ChatSocket {
  /** The `lastSeq` of its `subscribed` frame; -1 until it arrived. */
  from = -1;
  /** The highest seq of its room it received. */
  last = 0;
  /** Message frames of its room received. */
  received = 0;
  /** Messages at or below `last` when they arrived (a duplicate or a reordering). */
  duplicates = 0;
  /** Seqs skipped: a message above last + 1 adds the distance. */
  skipped = 0;
  /** Message frames of another room. */
  foreign = 0;
  /** The socket closed (or failed) after it was subscribed; its close code. */
  closedAfterOpen = false;
  closeCode = 0;
  ws: WebSocket | null = null;

  constructor(
    readonly index: number,
    readonly port: number,
    readonly roomId: string,
  ) {}

  get subscribed(): boolean {
    return this.from >= 0 && !this.closedAfterOpen;
  }

  send(frame: string): void {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(frame);
  }

  /** Counts a message frame of this socket's room for the audit. */
  seen(seq: number): void {
    this.received++;
    if (seq <= this.last) this.duplicates++;
    else {
      if (seq > this.last + 1) this.skipped += seq - this.last - 1;
      this.last = seq;
    }
  }
}

export interface ChatSocketSpec {
  port: number;
  /** Sent as `Authorization: Bearer` (the bare server ignores it, the bytes stay the same). */
  token: string;
  roomId: string;
}

export interface ChatSocketSet {
  sockets: ChatSocket[];
  /** Sockets that got their `subscribed` frame. */
  opened: number;
  /** Sockets refused or closed before their `subscribed` frame. */
  failed: number;
  firstError: string;
  /** Open and subscribed right now. */
  open(): number;
  /** ms from the connect to the `subscribed` frame, per opened socket, sorted. */
  openMs: number[];
  /** Seconds the whole opening took. */
  openSeconds: number;
  /** Error frames by code. */
  errors: Record<string, number>;
  /** Closes every socket (1000), cuts those that have not finished the close after `graceMs`. */
  closeAll(graceMs?: number): Promise<void>;
}

export interface OpenOptions {
  label: string;
  /** Sockets being opened at once. */
  concurrency: number;
  /** After this long the opening stops and goes on with what opened. */
  deadlineMs: number;
  /** Every frame of every socket after it was parsed; `at` is performance.now() at its arrival. */
  onFrame?(s: ChatSocket, f: ChatFrame, at: number): void;
}

/** Opens one socket per spec, `concurrency` at a time, each counted open at its `subscribed` frame. */
export async function openChatSockets(
  specs: readonly ChatSocketSpec[],
  o: OpenOptions,
): Promise<ChatSocketSet> {
  const sockets = specs.map((s, i) => new ChatSocket(i, s.port, s.roomId));
  const openMs: number[] = [];
  const errors: Record<string, number> = {};
  const set: ChatSocketSet = {
    sockets,
    opened: 0,
    failed: 0,
    firstError: '',
    open: () => sockets.reduce((n, s) => n + (s.subscribed ? 1 : 0), 0),
    openMs,
    openSeconds: 0,
    errors,
    closeAll: (graceMs = 5_000) => closeAll(sockets, graceMs),
  };
  const t0 = performance.now();
  let next = 0;
  let lastLog = t0;
  await new Promise<void>((resolve) => {
    let inFlight = 0;
    const deadline = setTimeout(() => {
      log(`${o.label}: opening still unfinished after ${o.deadlineMs / 1000} s; going on with what opened`);
      next = specs.length;
      resolve();
    }, o.deadlineMs);
    const pump = () => {
      while (inFlight < o.concurrency && next < specs.length) {
        const i = next++;
        inFlight++;
        const spec = specs[i];
        const s = sockets[i];
        const started = performance.now();
        let settled = false;
        const settle = (error?: string) => {
          if (settled) return;
          settled = true;
          inFlight--;
          if (error) {
            set.failed++;
            set.firstError ||= error;
          } else {
            set.opened++;
            openMs.push(performance.now() - started);
          }
          if (performance.now() - lastLog > 5_000) {
            lastLog = performance.now();
            log(`${o.label}: ${set.opened} open, ${set.failed} failed, ${next} asked`);
          }
          if (next >= specs.length && inFlight === 0) {
            clearTimeout(deadline);
            resolve();
          } else pump();
        };
        const ws = new WebSocket(`ws://127.0.0.1:${spec.port}/api/v1/chat/ws`, {
          headers: { authorization: `Bearer ${spec.token}` },
          perMessageDeflate: false,
          skipUTF8Validation: true,
          handshakeTimeout: 30_000,
          maxPayload: 1024 * 1024,
        });
        s.ws = ws;
        ws.on('open', () => ws.send(JSON.stringify({ type: 'subscribe', roomId: spec.roomId })));
        ws.on('message', (data: Buffer) => {
          const at = performance.now();
          const f = JSON.parse(data.toString('utf8')) as ChatFrame;
          if (f.type === 'message') {
            if (f.roomId === s.roomId && typeof f.seq === 'number') s.seen(f.seq);
            else s.foreign++;
          } else if (f.type === 'subscribed' && s.from < 0) {
            s.from = f.lastSeq ?? 0;
            s.last = s.from;
            settle();
          } else if (f.type === 'error') {
            const code = f.code ?? 'unknown';
            errors[code] = (errors[code] ?? 0) + 1;
            if (s.from < 0) settle(`error frame ${code}: ${f.detail ?? ''}`);
          }
          o.onFrame?.(s, f, at);
        });
        ws.on('unexpected-response', (_req, res) => {
          settle(`upgrade refused: ${res.statusCode}`);
          ws.terminate();
        });
        ws.on('error', (err) => settle(err.message));
        ws.on('close', (code) => {
          s.closeCode = code;
          if (s.from >= 0) s.closedAfterOpen = true;
          settle(`closed (${code}) before its subscribed frame`);
        });
      }
    };
    pump();
    if (specs.length === 0) {
      clearTimeout(deadline);
      resolve();
    }
  });
  set.openSeconds = (performance.now() - t0) / 1000;
  openMs.sort((a, b) => a - b);
  return set;
}

async function closeAll(sockets: readonly ChatSocket[], graceMs: number): Promise<void> {
  const closing: Promise<void>[] = [];
  for (const s of sockets) {
    const ws = s.ws;
    if (!ws || ws.readyState === WebSocket.CLOSED) continue;
    closing.push(new Promise<void>((resolve) => ws.once('close', () => resolve())));
    if (ws.readyState === WebSocket.CONNECTING) ws.terminate();
    else ws.close(1000, 'bench done');
  }
  const cut = setTimeout(() => {
    for (const s of sockets) if (s.ws && s.ws.readyState !== WebSocket.CLOSED) s.ws.terminate();
  }, graceMs);
  await Promise.all(closing);
  clearTimeout(cut);
}
