/**
 * The baseline of bench:chat: a bare Fastify + @fastify/websocket server speaking the chat socket's
 * frames with nothing behind them (no auth, no membership, no PostgreSQL, no pub/sub, no presence).
 * Whatever the real GET /api/v1/chat/ws costs above its bare twin here is ours.
 *   GET /api/v1/chat/ws   a WebSocket (maxPayload 64 KiB, no compression, as the real one):
 *     subscribe { roomId }               → subscribed { roomId, lastSeq }: the socket gets the room's
 *                                          messages from then on (any room id; one room per socket
 *                                          at a time is all the benchmark asks)
 *     send { roomId, text, clientMsgId } → the room's next seq; a message frame of the real shape
 *                                          (seq, id, roomId, userId, userName, text, at, clientMsgId),
 *                                          built once and written to every subscriber of the room,
 *                                          then an ack { clientMsgId, seq } to the sender
 *     ping                               → pong
 *   GET /readyz           200, so the benchmark waits for it as for a real server
 *
 *   PORT=3998 node bench/bare-chat-server.mjs     → prints "listening http://127.0.0.1:3998"
 *
 * Listens on 127.0.0.1 only; SIGTERM/SIGINT close every socket (1001) and the server.
 */
import websocket from '@fastify/websocket';
import Fastify from 'fastify';

const port = Number(process.env.PORT ?? 3998);
const app = Fastify({ logger: false });
await app.register(websocket, { options: { maxPayload: 64 * 1024 } });

/** roomId → { seq, sockets } */
const rooms = new Map();
const room = (id) => {
  let r = rooms.get(id);
  if (!r) {
    r = { seq: 0, sockets: new Set() };
    rooms.set(id, r);
  }
  return r;
};
// Message ids count up from 1,000,000 and users are named like the benchmark's, so a frame has the
// length of a real one.
let nextId = 1_000_000;
let nextUser = 1_000;

app.get('/api/v1/chat/ws', { websocket: true }, (socket) => {
  const user = { userId: String(nextUser), userName: `chat-0-${nextUser - 1_000}` };
  nextUser += 1;
  let joined = null;
  socket.on('message', (data, isBinary) => {
    let f;
    try {
      f = isBinary ? null : JSON.parse(data.toString('utf8'));
    } catch {
      f = null;
    }
    if (!f || typeof f.type !== 'string') {
      socket.send(JSON.stringify({ type: 'error', code: 'VALIDATION_FAILED', detail: 'not a frame' }));
      return;
    }
    if (f.type === 'subscribe') {
      joined?.sockets.delete(socket);
      joined = room(String(f.roomId));
      joined.sockets.add(socket);
      socket.send(JSON.stringify({ type: 'subscribed', roomId: String(f.roomId), lastSeq: joined.seq }));
    } else if (f.type === 'send') {
      const r = room(String(f.roomId));
      r.seq += 1;
      nextId += 1;
      const frame = JSON.stringify({
        type: 'message',
        seq: r.seq,
        id: String(nextId),
        roomId: String(f.roomId),
        userId: user.userId,
        userName: user.userName,
        text: f.text,
        at: new Date().toISOString(),
        clientMsgId: f.clientMsgId,
      });
      for (const s of r.sockets) if (s.readyState === s.OPEN) s.send(frame);
      socket.send(JSON.stringify({ type: 'ack', clientMsgId: f.clientMsgId, seq: r.seq }));
    } else if (f.type === 'ping') socket.send('{"type":"pong"}');
  });
  socket.on('close', () => joined?.sockets.delete(socket));
});
app.get('/readyz', async () => ({ status: 'ready' }));

await app.listen({ port, host: '127.0.0.1' });
process.stdout.write(`listening http://127.0.0.1:${app.server.address().port}\n`);

for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    for (const s of app.websocketServer.clients) s.close(1001, 'server shutting down');
    app.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  });
}
