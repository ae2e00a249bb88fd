/**
 * HTTP/1.1 over a bare `node:net` socket, for requests no HTTP client will send: unknown methods,
 * spaces or NUL in the path, no Host, contradictory framing, oversized headers. Sends the bytes as
 * given, reads the first response (Content-Length, chunked, or until the server closes) and never
 * waits longer than `timeoutMs`.
 */
import net from 'node:net';

export interface RawResponse {
  /** 0 when no status line arrived (the server closed or the time ran out first). */
  status: number;
  /** Header names in lower case; repeated headers joined with ", ". */
  headers: Record<string, string>;
  body: string;
  /** Everything received, as latin1. */
  raw: string;
  /** The time ran out before a complete response arrived. */
  timedOut: boolean;
}

export interface RawOptions {
  host?: string;
  timeoutMs?: number;
  /** End our side after writing (the server then sees EOF, e.g. in the middle of a body). */
  halfClose?: boolean;
}

/** One response parsed from the bytes; `length` is how many bytes it took. */
export interface ParsedResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
  length: number;
}

/**
 * Parses the first response in `buf`; null while it is incomplete. With `closed`, a response cut
 * short by the end of the connection is returned as far as it arrived.
 */
export function parseResponse(buf: Buffer, closed: boolean): ParsedResponse | null {
  const end = buf.indexOf('\r\n\r\n');
  if (end < 0)
    return closed && buf.length > 0 ? { status: 0, headers: {}, body: '', length: buf.length } : null;
  const head = buf.subarray(0, end).toString('latin1').split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(head[0] ?? '');
  if (!m) return { status: 0, headers: {}, body: buf.toString('latin1'), length: buf.length };
  const headers: Record<string, string> = {};
  for (const line of head.slice(1)) {
    const i = line.indexOf(':');
    if (i <= 0) continue;
    const k = line.slice(0, i).trim().toLowerCase();
    const v = line.slice(i + 1).trim();
    headers[k] = headers[k] === undefined ? v : `${headers[k]}, ${v}`;
  }
  const status = Number(m[1]);
  const start = end + 4;
  const rest = buf.subarray(start);
  const cut = (body: Buffer, length: number): ParsedResponse => ({
    status,
    headers,
    body: body.toString('utf8'),
    length,
  });
  const noBody = status === 204 || status === 304 || (status >= 100 && status < 200);
  if (noBody) return cut(Buffer.alloc(0), start);
  if (headers['content-length'] !== undefined) {
    const n = Number(headers['content-length']);
    if (rest.length < n) return closed ? cut(rest, buf.length) : null;
    return cut(rest.subarray(0, n), start + n);
  }
  if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
    const parts: Buffer[] = [];
    let at = 0;
    for (;;) {
      const eol = rest.indexOf('\r\n', at);
      if (eol < 0) return closed ? cut(Buffer.concat(parts), buf.length) : null;
      const size = Number.parseInt(rest.subarray(at, eol).toString('latin1'), 16);
      if (!Number.isFinite(size)) return cut(Buffer.concat(parts), buf.length);
      if (size === 0) {
        const trailerEnd = rest.indexOf('\r\n', eol + 2);
        return cut(Buffer.concat(parts), start + (trailerEnd < 0 ? rest.length : trailerEnd + 2));
      }
      if (rest.length < eol + 2 + size + 2) return closed ? cut(Buffer.concat(parts), buf.length) : null;
      parts.push(rest.subarray(eol + 2, eol + 2 + size));
      at = eol + 2 + size + 2;
    }
  }
  return closed ? cut(rest, buf.length) : null;
}

/** Every complete response in `buf`, in order. */
export function parseResponses(buf: Buffer, closed: boolean): ParsedResponse[] {
  const out: ParsedResponse[] = [];
  let at = 0;
  while (at < buf.length) {
    const r = parseResponse(buf.subarray(at), closed);
    if (!r) break;
    // Interim answers (100 Continue, 103 Early Hints) precede the real one; 101 ends HTTP.
    if (r.status < 100 || r.status >= 200 || r.status === 101) out.push(r);
    if (r.length <= 0) break;
    at += r.length;
  }
  return out;
}

/**
 * Writes `bytes` to host:port and resolves with the first `count` responses (default 1), or with
 * what arrived before the server closed or the time ran out (then fewer, or one with status 0).
 */
export function rawRequests(
  port: number,
  bytes: Buffer | string,
  count: number,
  opts: RawOptions = {},
): Promise<RawResponse[]> {
  const timeoutMs = opts.timeoutMs ?? 5_000;
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: opts.host ?? '127.0.0.1' });
    const chunks: Buffer[] = [];
    let settled = false;
    const finish = (closed: boolean, timedOut: boolean) => {
      if (settled) return;
      const buf = Buffer.concat(chunks);
      const parsed = parseResponses(buf, closed || timedOut);
      if (parsed.length < count && !closed && !timedOut) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      const raw = buf.toString('latin1');
      const out: RawResponse[] = parsed
        .slice(0, count)
        .map(({ length: _length, ...r }) => ({ ...r, raw, timedOut: false }));
      if (out.length === 0) out.push({ status: 0, headers: {}, body: '', raw, timedOut });
      resolve(out);
    };
    const timer = setTimeout(() => finish(false, true), timeoutMs);
    socket.on('data', (d: Buffer) => {
      chunks.push(d);
      finish(false, false);
    });
    // A server that answers and closes may reset the connection while we still write: what
    // arrived so far is the answer.
    socket.on('error', () => finish(true, false));
    socket.on('close', () => finish(true, false));
    socket.on('connect', () => {
      socket.write(typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes);
      if (opts.halfClose) socket.end();
    });
  });
}

/** Writes `bytes` to host:port and resolves with the first response (or what arrived in time). */
export async function rawRequest(
  port: number,
  bytes: Buffer | string,
  opts: RawOptions = {},
): Promise<RawResponse> {
  const [first] = await rawRequests(port, bytes, 1, opts);
  return first;
}
