/**
 * Chat across two processes of one deployment (cluster mode: one PostgreSQL, one Redis), with
 * clients on both: 50 senders × 100 messages reach every subscriber of every process in seq order
 * with no gap and no duplicate; a client that drops out while traffic flows resumes on the OTHER
 * process from its last seq and misses nothing; a clientMsgId sent through both processes at once is
 * stored once; presence and departures cross processes.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  clusterAvailable,
  createDatabaseFor,
  createUsers,
  startTestServer,
  type TestDatabase,
  type TestServer,
  type TestUser,
} from '../support/harness.js';
import { api, ChatClient, gapFree, roomWith, sleep, until } from './support.js';

describe.skipIf(!clusterAvailable())('chat across two processes (cluster)', () => {
  let db: TestDatabase;
  let one: TestServer;
  let two: TestServer;
  let sql: pg.Pool;
  let users: TestUser[];
  const clients: ChatClient[] = [];
  const connect = async (server: TestServer, u: TestUser) => {
    const c = await ChatClient.connect(server.url, u.token);
    clients.push(c);
    return c;
  };
  const lastSeq = async (room: string) =>
    (await sql.query<{ n: number }>('SELECT last_seq::int AS n FROM chat_rooms WHERE id = $1', [room]))
      .rows[0].n;

  beforeAll(async () => {
    db = await createDatabaseFor('cluster');
    const overrides = { chatMessagesPerMinute: 1_000_000, chatPresenceBeatMs: 500 };
    one = await startTestServer(db, overrides);
    two = await startTestServer(db, overrides);
    sql = new pg.Pool({ connectionString: db.url, max: 2 });
    users = await createUsers(one.url, 60);
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await sql?.end();
    await two?.close();
    await one?.close();
    await db?.drop();
  });

  it('delivers 50 senders × 100 messages to every subscriber on both processes, in seq order, no gap, no duplicate', {
    timeout: 100_000,
  }, async () => {
    const senders = users.slice(0, 50);
    const watchers = users.slice(50, 58);
    const room = await roomWith(
      one.url,
      senders[0].token,
      [...senders.slice(1), ...watchers].map((u) => u.token),
    );
    const subscribers = await Promise.all(watchers.map((u, i) => connect(i % 2 ? two : one, u)));
    for (const s of subscribers) expect((await s.subscribe(room)).type).toBe('subscribed');
    const sockets = await Promise.all(senders.map((u, i) => connect(i % 2 ? two : one, u)));
    const PER_SENDER = 100;
    const acks = await Promise.all(
      sockets.map(async (s, i) => {
        const seqs: number[] = [];
        // 5 rounds of 20 pipelined sends: batches of both processes interleave in every round.
        for (let round = 0; round < PER_SENDER / 20; round++) {
          const ids = Array.from({ length: 20 }, (_, k) => `s${i}-${round * 20 + k}`);
          for (const id of ids)
            s.send({ type: 'send', roomId: room, text: `text of ${id}`, clientMsgId: id });
          for (const id of ids) {
            const ack = await s.next(
              (f) => f.clientMsgId === id && (f.type === 'ack' || f.type === 'error'),
              30_000,
            );
            if (ack.type !== 'ack') throw new Error(JSON.stringify(ack));
            seqs.push(ack.seq);
          }
        }
        return seqs;
      }),
    );
    const TOTAL = senders.length * PER_SENDER;
    expect(acks.flat().sort((a, b) => a - b)).toEqual(Array.from({ length: TOTAL }, (_, i) => i + 1));
    for (const s of subscribers) {
      expect(gapFree(await s.messages(room, TOTAL, 60_000), 0, TOTAL)).toBe('');
      const texts = new Set(s.frames.filter((f) => f.type === 'message').map((f) => f.text));
      expect(texts.size).toBe(TOTAL);
    }
    // Each subscriber's message with seq n is the one PostgreSQL stored as n.
    const { rows } = await sql.query<{ seq: number; text: string }>(
      'SELECT seq::int AS seq, text FROM chat_messages WHERE room_id = $1 ORDER BY seq',
      [room],
    );
    expect(rows.length).toBe(TOTAL);
    for (const s of subscribers) {
      const got = s.frames.filter((f) => f.type === 'message').map((f) => ({ seq: f.seq, text: f.text }));
      expect(got).toEqual(rows);
    }
    expect(await lastSeq(room)).toBe(TOTAL);
  });

  it('resumes a client that dropped out on the other process: everything it missed, then live', {
    timeout: 90_000,
  }, async () => {
    const senders = users.slice(0, 10);
    const reader = users[58];
    const room = await roomWith(
      one.url,
      senders[0].token,
      [...senders.slice(1), reader].map((u) => u.token),
    );
    const first = await connect(one, reader);
    await first.subscribe(room);
    const sockets = await Promise.all(senders.map((u, i) => connect(i % 2 ? two : one, u)));
    const PER_SENDER = 80;
    const sending = Promise.all(
      sockets.map(async (s, i) => {
        for (let k = 0; k < PER_SENDER; k++) {
          const ack = await s.say(room, `r${i}-${k}`, `resume-${i}-${k}`);
          if (ack.type !== 'ack') throw new Error(JSON.stringify(ack));
          if (k % 10 === 0) await sleep(5);
        }
      }),
    );
    await first.messages(room, 150);
    await first.close();
    const seen = first.seqs(room);
    const resumeFrom = seen[seen.length - 1];
    // Messages keep flowing while it is away.
    await until('traffic while away', async () =>
      (await lastSeq(room)) >= resumeFrom + 150 ? true : undefined,
    );
    const second = await connect(two, reader);
    const subscribed = await second.subscribe(room, resumeFrom);
    expect(subscribed.lastSeq).toBeGreaterThan(resumeFrom);
    await sending;
    const TOTAL = senders.length * PER_SENDER;
    expect(await lastSeq(room)).toBe(TOTAL);
    const after = await second.messages(room, TOTAL - resumeFrom, 60_000);
    expect(gapFree(seen, 0, resumeFrom)).toBe('');
    expect(gapFree(after, resumeFrom, TOTAL)).toBe('');
  });

  it('stores a clientMsgId sent through both processes at once a single time; every ack carries its seq', async () => {
    const u = users[0];
    const room = await roomWith(one.url, u.token);
    const a = await connect(one, u);
    const b = await connect(two, u);
    for (let i = 0; i < 30; i++) {
      const frame = { type: 'send', roomId: room, text: `twice ${i}`, clientMsgId: `both-${i}` };
      a.send(frame);
      b.send(frame);
    }
    const ackOf = (c: ChatClient, id: string) => c.next((f) => f.type === 'ack' && f.clientMsgId === id);
    for (let i = 0; i < 30; i++) {
      const [x, y] = await Promise.all([ackOf(a, `both-${i}`), ackOf(b, `both-${i}`)]);
      expect(x.seq).toBe(y.seq);
    }
    const { rows } = await sql.query<{ n: number; seqs: number }>(
      'SELECT count(*)::int AS n, count(DISTINCT seq)::int AS seqs FROM chat_messages WHERE room_id = $1',
      [room],
    );
    expect(rows[0]).toEqual({ n: 30, seqs: 30 });
    expect(await lastSeq(room)).toBe(30);
  });

  it('shows presence and departures across processes', async () => {
    const [ada, bob] = users;
    const room = await roomWith(one.url, ada.token, [bob.token]);
    const a = await connect(one, ada);
    await a.subscribe(room);
    const b = await connect(two, bob);
    await b.subscribe(room);
    await a.next((f) => f.type === 'presence' && f.userId === bob.id && f.online === true);
    // Presence frames are changes: Bob, subscribing after Ada came online, reads her in the list.
    expect(b.frames.some((f) => f.type === 'presence' && f.userId === ada.id)).toBe(false);
    for (const server of [one, two]) {
      const online = await api(server.url, 'GET', `/chat/rooms/${room}/online`);
      expect(online.body.items.map((x: { userId: string }) => x.userId).sort()).toEqual(
        [ada.id, bob.id].sort(),
      );
    }
    // Bob leaves the room through process one: his subscription on process two ends.
    const from = b.frames.length;
    expect(
      (await api(one.url, 'DELETE', `/chat/rooms/${room}/members/me`, { token: bob.token })).status,
    ).toBe(204);
    expect(await b.next((f) => f.type === 'error', 10_000, from)).toMatchObject({
      code: 'NOT_MEMBER',
      roomId: room,
    });
    await a.next((f) => f.type === 'presence' && f.userId === bob.id && f.online === false);
    const online = await api(one.url, 'GET', `/chat/rooms/${room}/online`);
    expect(online.body.items).toEqual([{ userId: ada.id, name: ada.name }]);
  });
});
