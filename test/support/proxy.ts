/**
 * A TCP proxy on a free loopback port in front of a real service (Redis, PostgreSQL) that a test
 * can cut — every connection through it dropped, new ones refused — and restore, to make the
 * service unreachable for a server under test without touching the service itself.
 */
import net from 'node:net';

export interface TcpProxy {
  port: number;
  /** Drops every connection through the proxy and refuses new ones until restore(). */
  cut(): void;
  /** Holds every reply of the service this long before passing it on (0: none): a slow service. */
  delay(ms: number): void;
  restore(): void;
  close(): Promise<void>;
}

export async function tcpProxy(host: string, port: number): Promise<TcpProxy> {
  const sockets = new Set<net.Socket>();
  let open = true;
  let delayMs = 0;
  const server = net.createServer((inbound) => {
    if (!open) return inbound.destroy();
    const outbound = net.connect(port, host);
    sockets.add(inbound).add(outbound);
    inbound.pipe(outbound);
    // Replies in order, each released delayMs after it arrived (never overtaking an earlier one).
    let replies = Promise.resolve();
    outbound.on('data', (chunk) => {
      const due = Date.now() + delayMs;
      replies = replies.then(async () => {
        const left = due - Date.now();
        if (left > 0) await new Promise((r) => setTimeout(r, left));
        if (!inbound.destroyed) inbound.write(chunk);
      });
    });
    outbound.on('end', () => {
      replies = replies.then(() => {
        inbound.end();
      });
    });
    const close = () => {
      inbound.destroy();
      outbound.destroy();
    };
    inbound.on('error', close).on('close', close);
    outbound.on('error', close).on('close', close);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    port: (server.address() as net.AddressInfo).port,
    cut() {
      open = false;
      for (const s of sockets) s.destroy();
      sockets.clear();
    },
    restore() {
      open = true;
    },
    delay(ms) {
      delayMs = ms;
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/** The same URL, reaching its host through `proxy`. */
export function throughProxy(url: string, proxy: TcpProxy): string {
  const u = new URL(url);
  u.hostname = '127.0.0.1';
  u.port = String(proxy.port);
  return u.toString();
}
