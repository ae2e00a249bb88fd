/**
 * Network helpers of the drill and of everything that starts servers through it (tests, benchmarks).
 */
import { once } from 'node:events';
import net from 'node:net';

/**
 * A TCP port free on `host` at the moment of the call: the OS picks it from a listener that is
 * closed again before this resolves, so another process may still take it before it is used.
 */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const probe = net.createServer();
  probe.unref();
  probe.listen(0, host);
  await once(probe, 'listening');
  const { port } = probe.address() as net.AddressInfo;
  await new Promise<void>((resolve, reject) => probe.close((err) => (err ? reject(err) : resolve())));
  return port;
}
