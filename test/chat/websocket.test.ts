/**
 * The chat WebSocket protocol on one process, in both modes, over real sockets: subscribe, send
 * and ack, replay from afterSeq then live with no gap or duplicate (also while messages flow),
 * resends stored once, presence frames and the online list, refusals as error frames on a
 * connection that stays open (malformed frames, too large, NOT_MEMBER, NOT_FOUND, RATE_LIMITED),
 * and the connection's end: leaving the room, an unanswered ping, a reader too slow (4008).
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import {
  clusterAvailable,
  createDatabaseFor,
  createUsers,
  type Mode,
  startTestServer,
  type TestDatabase,
  type TestServer,
  type TestUser,
} from '../support/harness.js';
import { api, ChatClient, gapFree, roomWith, sleep, until } from './support.js';

for (const mode of ['embedded', 'cluster'] as Mode[]) {
  describe.skipIf(mode === 'cluster' && !clusterAvailable())(`chat WebSocket (${mode})`, () => {
    let db: TestDatabase;
    let server: TestServer;
    let sql: pg.Pool;
    let base: string;
    let users: TestUser[];
    let ada: TestUser;
    let bob: TestUser;
    let cy: TestUser;
    const clients: ChatClient[] = [];
    const connect = async (u: TestUser, via: 'header' | 'query' = 'header', to = base) => {
      const c = await ChatClient.connect(to, u.token, via);
      clients.push(c);
      return c;
    };
    const alive = async (c: ChatClient) => {
      const from = c.frames.length;
      c.send({ type: 'ping' });
      await c.next((f) => f.type === 'pong', 5_000, from);
    };

    beforeAll(async () => {
      db = await createDatabaseFor(mode);
      server = await startTestServer(db, { chatPresenceBeatMs: 500 });
      base = server.url;
      sql = new pg.Pool({ connectionString: db.url, max: 2 });
      users = await createUsers(base, 8);
      [ada, bob, cy] = users;
    });
    afterAll(async () => {
      await Promise.all(clients.map((c) => c.close()));
      await sql?.end();
      await server?.close();
      await db?.drop();
    });

    it('authenticates the upgrade by header or ?access_token=, and refuses it without a token', async () => {
      const room = await roomWith(base, ada.token);
      for (const via of ['header', 'query'] as const) {
        const c = await connect(ada, via);
        expect(await c.subscribe(room)).toEqual({ type: 'subscribed', roomId: room, lastSeq: 0 });
        await alive(c);
      }
      await expect(ChatClient.connect(base, 'not-a-token')).rejects.toThrow(/401/);
      await expect(ChatClient.connect(base, '', 'query')).rejects.toThrow(/401/);
    });

    it('delivers a send to every subscriber, acknowledges it after the commit, and a REST send the same way', async () => {
      const room = await roomWith(base, ada.token, [bob.token]);
      const a = await connect(ada);
      const b = await connect(bob);
      await a.subscribe(room);
      await b.subscribe(room);
      const ack = await a.say(room, 'hello', 'a-1');
      expect(ack).toEqual({ type: 'ack', clientMsgId: 'a-1', seq: 1 });
      const stored = await sql.query('SELECT text FROM chat_messages WHERE room_id = $1 AND seq = 1', [room]);
      expect(stored.rows).toEqual([{ text: 'hello' }]);
      const viaRest = await api(base, 'POST', `/chat/rooms/${room}/messages`, {
        token: bob.token,
        body: { text: 'from rest' },
      });
      expect(viaRest.status).toBe(201);
      for (const c of [a, b]) {
        await c.messages(room, 2);
        const got = c.frames.filter((f) => f.type === 'message');
        expect(got[0]).toEqual({
          type: 'message',
          seq: 1,
          id: expect.any(String),
          roomId: room,
          userId: ada.id,
          userName: ada.name,
          text: 'hello',
          at: expect.any(String),
          clientMsgId: 'a-1',
        });
        expect(got[1]).toEqual({ type: 'message', ...viaRest.body });
      }
    });

    it('replays from afterSeq, then goes live: no gap, no duplicate', async () => {
      const room = await roomWith(base, ada.token);
      for (let i = 1; i <= 10; i++)
        await api(base, 'POST', `/chat/rooms/${room}/messages`, {
          token: ada.token,
          body: { text: `m${i}` },
        });
      const c = await connect(ada);
      expect(await c.subscribe(room, 3)).toEqual({ type: 'subscribed', roomId: room, lastSeq: 10 });
      await c.messages(room, 7);
      await c.say(room, 'live', 'live-1');
      expect(gapFree(await c.messages(room, 8), 3, 11)).toBe('');
      // afterSeq at or past the end: only what comes next.
      const d = await connect(ada);
      await d.subscribe(room, 11);
      await d.say(room, 'next', 'live-2');
      expect(await d.messages(room, 1)).toEqual([12]);
    });

    it('replays while messages keep arriving: every subscriber gets 1..N exactly once, in order', async () => {
      const senders = users.slice(3, 8);
      const room = await roomWith(
        base,
        ada.token,
        senders.map((u) => u.token),
      );
      const sockets = await Promise.all(senders.map((u) => connect(u)));
      const PER_SENDER = 60;
      const sending = Promise.all(
        sockets.map(async (s, i) => {
          for (let k = 0; k < PER_SENDER; k++) {
            const ack = await s.say(room, `s${i}-${k}`, `r-${i}-${k}`);
            if (ack.type !== 'ack') throw new Error(JSON.stringify(ack));
          }
        }),
      );
      // Subscribers join at different moments of the flood, each from the very beginning.
      const late: ChatClient[] = [];
      for (let j = 0; j < 4; j++) {
        await until('traffic', async () => {
          const { rows } = await sql.query<{ n: number }>(
            'SELECT last_seq::int AS n FROM chat_rooms WHERE id = $1',
            [room],
          );
          return rows[0].n >= (j + 1) * 50 ? true : undefined;
        });
        const c = await connect(ada);
        await c.subscribe(room, 0);
        late.push(c);
      }
      await sending;
      const total = senders.length * PER_SENDER;
      for (const c of late) expect(gapFree(await c.messages(room, total), 0, total)).toBe('');
    });

    it('stores a clientMsgId sent twice at once a single time; both acks carry its seq', async () => {
      const room = await roomWith(base, ada.token);
      const watcher = await connect(ada);
      await watcher.subscribe(room);
      const c = await connect(ada);
      const twice = { type: 'send', roomId: room, text: 'once', clientMsgId: 'dup-1' };
      c.send(twice);
      c.send(twice);
      await until('two acks', () =>
        c.frames.filter((f) => f.type === 'ack').length === 2 ? true : undefined,
      );
      const acks = c.frames.filter((f) => f.type === 'ack');
      expect(acks).toEqual([
        { type: 'ack', clientMsgId: 'dup-1', seq: 1 },
        { type: 'ack', clientMsgId: 'dup-1', seq: 1 },
      ]);
      // From another socket later: still the same message.
      const d = await connect(ada);
      expect(await d.say(room, 'once', 'dup-1')).toEqual({ type: 'ack', clientMsgId: 'dup-1', seq: 1 });
      const { rows } = await sql.query('SELECT count(*)::int AS n FROM chat_messages WHERE room_id = $1', [
        room,
      ]);
      expect(rows[0].n).toBe(1);
      await watcher.say(room, 'after', 'dup-after');
      expect(await watcher.messages(room, 2)).toEqual([1, 2]);
    });

    it('answers malformed frames with an error frame and keeps the connection', async () => {
      const room = await roomWith(base, ada.token);
      const c = await connect(ada);
      const cases: [string | Buffer, string, RegExp][] = [
        ['not json', 'VALIDATION_FAILED', /not valid JSON/],
        ['[1,2]', 'VALIDATION_FAILED', /JSON object/],
        ['null', 'VALIDATION_FAILED', /JSON object/],
        ['{"type":"shout"}', 'VALIDATION_FAILED', /frame.type/],
        ['{"roomId":"1"}', 'VALIDATION_FAILED', /frame.type/],
        [`{"type":"send","roomId":"${room}","clientMsgId":"x-1"}`, 'VALIDATION_FAILED', /text/],
        [`{"type":"send","roomId":"${room}","text":"hi"}`, 'VALIDATION_FAILED', /clientMsgId/],
        [
          `{"type":"send","roomId":"${room}","text":"","clientMsgId":"x-2"}`,
          'VALIDATION_FAILED',
          /frame.text/,
        ],
        [
          JSON.stringify({ type: 'send', roomId: room, text: 'x'.repeat(2001), clientMsgId: 'x-3' }),
          'VALIDATION_FAILED',
          /frame.text/,
        ],
        [
          JSON.stringify({ type: 'send', roomId: room, text: 'cr\r', clientMsgId: 'x-4' }),
          'VALIDATION_FAILED',
          /control/,
        ],
        ['{"type":"subscribe","roomId":"1","afterSeq":-1}', 'VALIDATION_FAILED', /frame.afterSeq/],
        ['{"type":"subscribe","roomId":"1","afterSeq":"3"}', 'VALIDATION_FAILED', /frame.afterSeq/],
        ['{"type":"subscribe","roomId":42}', 'VALIDATION_FAILED', /frame.roomId/],
        [
          JSON.stringify({
            type: 'send',
            roomId: room,
            text: 'y'.repeat(2000),
            clientMsgId: 'x-5',
            pad: 'z'.repeat(20_000),
          }),
          'PAYLOAD_TOO_LARGE',
          /16384 bytes/,
        ],
        [Buffer.from('{"type":"ping"}'), 'VALIDATION_FAILED', /binary/],
      ];
      for (const [frame, code, detail] of cases) {
        const from = c.frames.length;
        if (Buffer.isBuffer(frame)) c.socket.send(frame, { binary: true });
        else c.send(frame);
        const err = await c.next((f) => f.type === 'error', 5_000, from);
        expect(err.code, String(frame).slice(0, 80)).toBe(code);
        expect(err.detail).toMatch(detail);
      }
      const withId = c.frames.find((f) => f.type === 'error' && f.clientMsgId === 'x-2');
      expect(withId?.roomId).toBe(room);
      await alive(c);
      expect(c.closed).toBeNull();
      const { rows } = await sql.query('SELECT count(*)::int AS n FROM chat_messages WHERE room_id = $1', [
        room,
      ]);
      expect(rows[0].n).toBe(0);
    });

    it('closes a connection sending a frame over 64 KiB with 1009', async () => {
      const c = await connect(ada);
      c.send('x'.repeat(70_000));
      await until('close', () => c.closed ?? undefined);
      expect(c.closed?.code).toBe(1009);
    });

    it('refuses subscribe and send in rooms the user is not in (NOT_MEMBER) or that do not exist (NOT_FOUND)', async () => {
      const room = await roomWith(base, ada.token);
      const c = await connect(cy);
      expect(await c.subscribe(room)).toMatchObject({ type: 'error', code: 'NOT_MEMBER', roomId: room });
      expect(await c.say(room, 'hi', 'nm-1')).toMatchObject({
        type: 'error',
        code: 'NOT_MEMBER',
        clientMsgId: 'nm-1',
      });
      for (const missing of ['999999999', 'abc']) {
        expect(await c.subscribe(missing)).toMatchObject({
          type: 'error',
          code: 'NOT_FOUND',
          roomId: missing,
        });
        expect(await c.say(missing, 'hi', `nf-${missing}`)).toMatchObject({
          type: 'error',
          code: 'NOT_FOUND',
        });
      }
      await alive(c);
      // Joining makes both work.
      await api(base, 'POST', `/chat/rooms/${room}/members`, { token: cy.token });
      expect((await c.subscribe(room)).type).toBe('subscribed');
      expect((await c.say(room, 'now in', 'nm-2')).type).toBe('ack');
    });

    it('ends the subscriptions of a user who leaves the room', async () => {
      const room = await roomWith(base, ada.token, [bob.token]);
      const b = await connect(bob);
      await b.subscribe(room);
      const from = b.frames.length;
      expect((await api(base, 'DELETE', `/chat/rooms/${room}/members/me`, { token: bob.token })).status).toBe(
        204,
      );
      expect(await b.next((f) => f.type === 'error', 5_000, from)).toMatchObject({
        code: 'NOT_MEMBER',
        roomId: room,
      });
      await api(base, 'POST', `/chat/rooms/${room}/messages`, {
        token: ada.token,
        body: { text: 'after bob left' },
      });
      await alive(b);
      expect(b.seqs(room)).toEqual([]);
    });

    it('tells subscribers who comes online and goes offline, and lists who is online', async () => {
      const room = await roomWith(base, ada.token, [bob.token]);
      const a = await connect(ada);
      await a.subscribe(room);
      await a.next((f) => f.type === 'presence' && f.userId === ada.id && f.online === true);
      const b1 = await connect(bob);
      const b2 = await connect(bob, 'query');
      await b1.subscribe(room);
      await b2.subscribe(room);
      expect(await a.next((f) => f.type === 'presence' && f.userId === bob.id)).toEqual({
        type: 'presence',
        roomId: room,
        userId: bob.id,
        name: bob.name,
        online: true,
      });
      const online = await api(base, 'GET', `/chat/rooms/${room}/online`);
      expect(
        online.body.items.sort(
          (x: { userId: string }, y: { userId: string }) => Number(x.userId) - Number(y.userId),
        ),
      ).toEqual([
        { userId: ada.id, name: ada.name },
        { userId: bob.id, name: bob.name },
      ]);
      const list = await api(base, 'GET', '/chat/rooms?limit=100');
      expect(list.body.items.find((r: { id: string }) => r.id === room).online).toBe(2);
      // Bob is online while one of his two sockets is subscribed.
      await b1.close();
      await alive(a);
      await until('presence to settle', async () => {
        const r = await api(base, 'GET', `/chat/rooms/${room}/online`);
        return r.body.items.length === 2 ? true : undefined;
      });
      expect(
        a.frames.filter((f) => f.type === 'presence' && f.userId === bob.id && f.online === false),
      ).toEqual([]);
      b2.send({ type: 'unsubscribe', roomId: room });
      expect(
        await a.next((f) => f.type === 'presence' && f.userId === bob.id && f.online === false),
      ).toMatchObject({
        name: bob.name,
      });
      const after = await api(base, 'GET', `/chat/rooms/${room}/online`);
      expect(after.body.items).toEqual([{ userId: ada.id, name: ada.name }]);
    });

    it('refuses sends over the per-user budget with RATE_LIMITED (frame and 429 with Retry-After)', async () => {
      const limited = await startTestServer(db, { chatMessagesPerMinute: 5 });
      try {
        // Users of their own: in cluster mode the budget lives in Redis under the shared prefix,
        // so ada's and bob's messages from the tests before would count against it.
        const [ada, bob] = await createUsers(limited.url, 2);
        const room = await roomWith(limited.url, ada.token);
        const c = await connect(ada, 'header', limited.url);
        for (let i = 0; i < 5; i++) expect((await c.say(room, `m${i}`, `rl-${i}`)).type).toBe('ack');
        expect(await c.say(room, 'one too many', 'rl-5')).toMatchObject({
          type: 'error',
          code: 'RATE_LIMITED',
          clientMsgId: 'rl-5',
          roomId: room,
        });
        const rest = await api(limited.url, 'POST', `/chat/rooms/${room}/messages`, {
          token: ada.token,
          body: { text: 'rest' },
        });
        expect(rest.status).toBe(429);
        expect(rest.body.code).toBe('RATE_LIMITED');
        expect(Number(rest.headers['retry-after'])).toBeGreaterThanOrEqual(1);
        await alive(c);
        // Another user has a budget of their own.
        await api(limited.url, 'POST', `/chat/rooms/${room}/members`, { token: bob.token });
        const b = await connect(bob, 'header', limited.url);
        expect((await b.say(room, 'mine', 'rl-bob')).type).toBe('ack');
        await c.close();
        await b.close();
      } finally {
        await limited.close();
      }
    });

    it('ends a connection that stops answering pings, and its user leaves presence', async () => {
      const pinging = await startTestServer(db, { chatPingIntervalMs: 200, chatPresenceBeatMs: 500 });
      try {
        const room = await roomWith(pinging.url, ada.token, [bob.token]);
        const a = await connect(ada, 'header', pinging.url);
        await a.subscribe(room);
        const deaf = new WebSocket(`${pinging.url.replace('http', 'ws')}/api/v1/chat/ws`, {
          headers: { authorization: `Bearer ${bob.token}` },
          autoPong: false,
        });
        await new Promise((resolve) => deaf.once('open', resolve));
        deaf.send(JSON.stringify({ type: 'subscribe', roomId: room }));
        await a.next((f) => f.type === 'presence' && f.userId === bob.id && f.online === true);
        const closed = await new Promise<number>((resolve) => deaf.once('close', (code) => resolve(code)));
        expect(closed).toBe(1006); // terminated, no close frame
        await a.next((f) => f.type === 'presence' && f.userId === bob.id && f.online === false);
        // A client that answers pings stays.
        await alive(a);
        const metrics = await (await fetch(`${pinging.url}/metrics`)).text();
        expect(metrics).toMatch(/^stampede_chat_dead_connections_total [1-9]/m);
        await a.close();
      } finally {
        await pinging.close();
      }
    });

    it('closes a reader too slow to keep up with 4008 instead of buffering without bound', async () => {
      const bounded = await startTestServer(db, {
        chatMaxBufferedBytes: 64 * 1024,
        chatMessagesPerMinute: 1_000_000,
      });
      try {
        const room = await roomWith(bounded.url, ada.token, [bob.token]);
        const slow = await connect(bob, 'header', bounded.url);
        await slow.subscribe(room);
        const raw = (slow.socket as unknown as { _socket: { pause(): void; resume(): void } })._socket;
        raw.pause(); // reads nothing: the server's buffer for it grows
        const text = 'z'.repeat(2000);
        let sent = 0;
        const metric = async () => {
          const m = await (await fetch(`${bounded.url}/metrics`)).text();
          return /^stampede_chat_slow_readers_dropped_total ([0-9.]+)/m.exec(m)?.[1];
        };
        while ((await metric()) === '0' && sent < 20_000) {
          await Promise.all(
            Array.from({ length: 100 }, (_, i) =>
              api(bounded.url, 'POST', `/chat/rooms/${room}/messages`, {
                token: ada.token,
                body: { text, clientMsgId: `f-${sent + i}` },
              }),
            ),
          );
          sent += 100;
        }
        expect(await metric()).toBe('1');
        raw.resume();
        await until('close', () => slow.closed ?? undefined, 30_000);
        expect(slow.closed?.code).toBe(4008);
        // What it missed is still there to resume from.
        const again = await connect(bob, 'header', bounded.url);
        const last = slow.seqs(room).at(-1) ?? 0;
        await again.subscribe(room, last);
        expect(gapFree(await again.messages(room, sent - last, 60_000), last, sent)).toBe('');
        await again.close();
        // A replay far larger than the bound goes at its reader's pace instead of dropping it.
        const replaying = await connect(bob, 'header', bounded.url);
        const its = (replaying.socket as unknown as { _socket: { pause(): void; resume(): void } })._socket;
        its.pause();
        replaying.send({ type: 'subscribe', roomId: room, afterSeq: 0 });
        await sleep(1_000);
        expect(await metric()).toBe('1');
        its.resume();
        expect(gapFree(await replaying.messages(room, sent, 60_000), 0, sent)).toBe('');
        expect(replaying.closed).toBeNull();
      } finally {
        await bounded.close();
      }
    });
  });
}
