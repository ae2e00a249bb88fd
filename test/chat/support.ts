/**
 * Helpers for the chat suites: REST calls (any method), rooms with members, and a WebSocket client
 * over a real socket (the `ws` package) that keeps every frame it received and waits for frames.
 */
import { request } from 'undici';
import WebSocket from 'ws';
import { until } from '../support/harness.js';

export { until };

// biome-ignore lint/suspicious/noExplicitAny: frames and answers are asserted field by field
export type Frame = Record<string, any>;

export async function api(
  base: string,
  method: 'GET' | 'POST' | 'DELETE',
  path: string,
  opts: { token?: string; body?: unknown } = {},
) {
  const headers: Record<string, string> = {};
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  const res = await request(`${base}/api/v1${path}`, {
    method,
    headers,
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
  });
  const text = await res.body.text();
  // biome-ignore lint/suspicious/noExplicitAny: answers are asserted field by field
  const body: any = text ? JSON.parse(text) : null;
  return { status: res.statusCode, headers: res.headers, body };
}

/** Creates a room as `owner` and makes every one of `members` join it; the room id. */
export async function roomWith(base: string, owner: string, members: string[] = []): Promise<string> {
  const created = await api(base, 'POST', '/chat/rooms', { token: owner, body: { name: 'room' } });
  if (created.status !== 201) throw new Error(`room: ${created.status} ${JSON.stringify(created.body)}`);
  const id = created.body.id as string;
  for (const token of members) {
    const joined = await api(base, 'POST', `/chat/rooms/${id}/members`, { token });
    if (joined.status !== 200) throw new Error(`join: ${joined.status} ${JSON.stringify(joined.body)}`);
  }
  return id;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class ChatClient {
  readonly frames: Frame[] = [];
  closed: { code: number; reason: string } | null = null;
  private waiters: (() => void)[] = [];

  private constructor(readonly socket: WebSocket) {
    socket.on('message', (data) => {
      this.frames.push(JSON.parse(data.toString()) as Frame);
      this.wake();
    });
    socket.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString() };
      this.wake();
    });
    socket.on('error', () => {});
  }

  /** Connects to `base`'s chat socket with the token in the Authorization header or the query string. */
  static connect(base: string, token: string, via: 'header' | 'query' = 'header'): Promise<ChatClient> {
    const url = `${base.replace(/^http/, 'ws')}/api/v1/chat/ws${via === 'query' ? `?access_token=${token}` : ''}`;
    const socket = new WebSocket(
      url,
      via === 'header' ? { headers: { authorization: `Bearer ${token}` } } : {},
    );
    return new Promise((resolve, reject) => {
      socket.once('open', () => resolve(new ChatClient(socket)));
      socket.once('unexpected-response', (_req, res) =>
        reject(new Error(`upgrade refused: ${res.statusCode}`)),
      );
      socket.once('error', reject);
    });
  }

  send(frame: Frame | string): void {
    this.socket.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  /** The first frame (from index `from` on) that matches, waiting at most `ms`. */
  async next(match: (f: Frame) => boolean, ms = 15_000, from = 0): Promise<Frame> {
    const deadline = Date.now() + ms;
    for (;;) {
      const found = this.frames.slice(from).find(match);
      if (found) return found;
      if (this.closed) throw new Error(`socket closed (${this.closed.code}) while waiting for a frame`);
      const left = deadline - Date.now();
      if (left <= 0)
        throw new Error(`no matching frame within ${ms} ms; last: ${JSON.stringify(this.frames.slice(-3))}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 1_000));
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** The seqs of the message frames of `roomId` received so far, in arrival order. */
  seqs(roomId: string): number[] {
    return this.frames.filter((f) => f.type === 'message' && f.roomId === roomId).map((f) => f.seq as number);
  }

  /** Waits until `count` message frames of the room arrived. */
  async messages(roomId: string, count: number, ms = 30_000): Promise<number[]> {
    await until(
      `${count} messages of room ${roomId}`,
      () => (this.seqs(roomId).length >= count ? true : undefined),
      ms,
    );
    return this.seqs(roomId);
  }

  /** Subscribes and waits for its `subscribed` frame. */
  async subscribe(roomId: string, afterSeq?: number): Promise<Frame> {
    const from = this.frames.length;
    this.send({ type: 'subscribe', roomId, ...(afterSeq === undefined ? {} : { afterSeq }) });
    return this.next(
      (f) => (f.type === 'subscribed' || f.type === 'error') && f.roomId === roomId,
      15_000,
      from,
    );
  }

  /** Sends a message and waits for its ack (or its error frame). */
  async say(roomId: string, text: string, clientMsgId: string): Promise<Frame> {
    const from = this.frames.length;
    this.send({ type: 'send', roomId, text, clientMsgId });
    return this.next(
      (f) => (f.type === 'ack' || f.type === 'error') && f.clientMsgId === clientMsgId,
      15_000,
      from,
    );
  }

  async close(): Promise<void> {
    if (this.closed) return;
    const done = new Promise<void>((resolve) => this.socket.once('close', () => resolve()));
    this.socket.close();
    await done;
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }
}

/** Asserts-free check: the seqs are exactly from+1, from+2, ..., to (returns what is wrong, or ''). */
export function gapFree(seqs: readonly number[], from: number, to: number): string {
  if (seqs.length !== to - from) return `expected ${to - from} messages, got ${seqs.length}`;
  for (let i = 0; i < seqs.length; i++) {
    if (seqs[i] !== from + 1 + i) return `at ${i}: expected seq ${from + 1 + i}, got ${seqs[i]}`;
  }
  return '';
}
