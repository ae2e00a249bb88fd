/**
 * The chat's REST API in both modes, over real sockets: rooms (create, list in pages with online
 * counts, join idempotently, leave), history pages by seq, sends with a gap-free seq and a
 * clientMsgId stored once, and every documented refusal (VALIDATION_FAILED, NOT_FOUND, NOT_MEMBER,
 * IDEMPOTENCY_KEY_REUSED, UNAUTHENTICATED), checked against PostgreSQL where it keeps the truth.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
import { api, roomWith } from './support.js';

for (const mode of ['embedded', 'cluster'] as Mode[]) {
  describe.skipIf(mode === 'cluster' && !clusterAvailable())(`chat REST (${mode})`, () => {
    let db: TestDatabase;
    let server: TestServer;
    let sql: pg.Pool;
    let base: string;
    let ada: TestUser;
    let bob: TestUser;
    let cy: TestUser;

    beforeAll(async () => {
      db = await createDatabaseFor(mode);
      server = await startTestServer(db);
      base = server.url;
      sql = new pg.Pool({ connectionString: db.url, max: 2 });
      [ada, bob, cy] = await createUsers(base, 3);
    });
    afterAll(async () => {
      await sql?.end();
      await server?.close();
      await db?.drop();
    });

    it('creates a room whose creator is its first member', async () => {
      const r = await api(base, 'POST', '/chat/rooms', {
        token: ada.token,
        body: { name: 'Summer night', topic: 'doors' },
      });
      expect(r.status).toBe(201);
      expect(r.body).toEqual({
        id: expect.any(String),
        name: 'Summer night',
        topic: 'doors',
        createdBy: ada.id,
        createdAt: expect.any(String),
      });
      const noTopic = await api(base, 'POST', '/chat/rooms', { token: ada.token, body: { name: 'plain' } });
      expect(noTopic.body.topic).toBeNull();
      const { rows } = await sql.query('SELECT user_id::text AS u FROM chat_members WHERE room_id = $1', [
        r.body.id,
      ]);
      expect(rows).toEqual([{ u: ada.id }]);
      expect((await api(base, 'GET', `/chat/rooms/${r.body.id}/messages`, { token: ada.token })).status).toBe(
        200,
      );
    });

    it('refuses a room with a bad body (400 VALIDATION_FAILED) or without a token (401)', async () => {
      for (const body of [
        {},
        { name: '' },
        { name: '   ' },
        { name: 'x'.repeat(101) },
        { name: 'tab\there' },
        { name: 'ok', topic: 'y'.repeat(501) },
        { name: 'ok', extra: true },
        { name: 42 },
      ]) {
        const r = await api(base, 'POST', '/chat/rooms', { token: ada.token, body });
        expect(r.status, JSON.stringify(body)).toBe(400);
        expect(r.body.code).toBe('VALIDATION_FAILED');
      }
      const anonymous = await api(base, 'POST', '/chat/rooms', { body: { name: 'x' } });
      expect(anonymous.status).toBe(401);
      expect(anonymous.body.code).toBe('UNAUTHENTICATED');
    });

    it('lists rooms in id order, a page at a time, each with its online count', async () => {
      const ids = [];
      for (let i = 0; i < 3; i++) ids.push(await roomWith(base, bob.token));
      const seen: string[] = [];
      let cursor: string | undefined;
      do {
        const r = await api(base, 'GET', `/chat/rooms?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
        expect(r.status).toBe(200);
        expect(r.body.items.length).toBeLessThanOrEqual(2);
        for (const item of r.body.items) {
          expect(Object.keys(item).sort()).toEqual(['id', 'name', 'online', 'topic']);
          expect(item.online).toBe(0);
          seen.push(item.id);
        }
        cursor = r.body.nextCursor;
      } while (cursor);
      expect(seen).toEqual([...seen].sort((a, b) => Number(a) - Number(b)));
      for (const id of ids) expect(seen).toContain(id);
      for (const q of ['limit=0', 'limit=101', 'limit=1e2', 'cursor=nope'])
        expect((await api(base, 'GET', `/chat/rooms?${q}`)).body.code, q).toBe('VALIDATION_FAILED');
    });

    it('joins once (200 again, same membership), leaves (204, twice too); unknown rooms are 404', async () => {
      const room = await roomWith(base, ada.token);
      const first = await api(base, 'POST', `/chat/rooms/${room}/members`, { token: bob.token });
      expect(first.status).toBe(200);
      expect(first.body).toEqual({ roomId: room, userId: bob.id, joinedAt: expect.any(String) });
      const again = await api(base, 'POST', `/chat/rooms/${room}/members`, { token: bob.token });
      expect(again.status).toBe(200);
      expect(again.body).toEqual(first.body);
      const count = await sql.query('SELECT count(*)::int AS n FROM chat_members WHERE room_id = $1', [room]);
      expect(count.rows[0].n).toBe(2);

      expect((await api(base, 'DELETE', `/chat/rooms/${room}/members/me`, { token: bob.token })).status).toBe(
        204,
      );
      expect((await api(base, 'DELETE', `/chat/rooms/${room}/members/me`, { token: bob.token })).status).toBe(
        204,
      );
      const left = await api(base, 'GET', `/chat/rooms/${room}/messages`, { token: bob.token });
      expect(left.status).toBe(403);
      expect(left.body.code).toBe('NOT_MEMBER');

      for (const missing of ['999999999', 'abc', '0']) {
        for (const [method, path] of [
          ['POST', `/chat/rooms/${missing}/members`],
          ['DELETE', `/chat/rooms/${missing}/members/me`],
          ['GET', `/chat/rooms/${missing}/online`],
          ['GET', `/chat/rooms/${missing}/messages`],
        ] as const) {
          const r = await api(base, method, path, { token: bob.token });
          expect(r.status, `${method} ${path}`).toBe(404);
          expect(r.body.code).toBe('NOT_FOUND');
        }
        const send = await api(base, 'POST', `/chat/rooms/${missing}/messages`, {
          token: bob.token,
          body: { text: 'hi' },
        });
        expect(send.body.code).toBe('NOT_FOUND');
      }
    });

    it('stores messages with seqs 1, 2, 3... and pages the history by seq', async () => {
      const room = await roomWith(base, ada.token, [bob.token]);
      for (let i = 1; i <= 5; i++) {
        const r = await api(base, 'POST', `/chat/rooms/${room}/messages`, {
          token: i % 2 ? ada.token : bob.token,
          body: { text: `line ${i}\nsecond line` },
        });
        expect(r.status).toBe(201);
        expect(r.body).toEqual({
          seq: i,
          id: expect.any(String),
          roomId: room,
          userId: i % 2 ? ada.id : bob.id,
          userName: i % 2 ? ada.name : bob.name,
          text: `line ${i}\nsecond line`,
          at: expect.any(String),
        });
      }
      const seqs = async (q: string) => {
        const r = await api(base, 'GET', `/chat/rooms/${room}/messages${q}`, { token: bob.token });
        expect(r.status, q).toBe(200);
        return (r.body.items as { seq: number }[]).map((m) => m.seq);
      };
      expect(await seqs('')).toEqual([1, 2, 3, 4, 5]);
      expect(await seqs('?afterSeq=2&limit=2')).toEqual([3, 4]);
      expect(await seqs('?afterSeq=5')).toEqual([]);
      expect(await seqs('?beforeSeq=3')).toEqual([1, 2]);
      expect(await seqs('?limit=2')).toEqual([4, 5]);
      expect(await seqs('?afterSeq=1&beforeSeq=4')).toEqual([2, 3]);
      for (const q of ['afterSeq=-1', 'afterSeq=x', 'beforeSeq=0', 'limit=0', 'limit=101']) {
        const r = await api(base, 'GET', `/chat/rooms/${room}/messages?${q}`, { token: bob.token });
        expect(r.body.code, q).toBe('VALIDATION_FAILED');
      }
      const { rows } = await sql.query<{ last_seq: string }>(
        'SELECT last_seq FROM chat_rooms WHERE id = $1',
        [room],
      );
      expect(rows[0].last_seq).toBe('5');
    });

    it('refuses sends with a bad body (400), from non-members (403 NOT_MEMBER) and history to non-members', async () => {
      const room = await roomWith(base, ada.token);
      for (const body of [
        {},
        { text: '' },
        { text: '   ' },
        { text: 'x'.repeat(2001) },
        { text: 'carriage\rreturn' },
        { text: 'ok', clientMsgId: '' },
        { text: 'ok', clientMsgId: 'x'.repeat(101) },
        { text: 'ok', extra: 1 },
      ]) {
        const r = await api(base, 'POST', `/chat/rooms/${room}/messages`, { token: ada.token, body });
        expect(r.status, JSON.stringify(body).slice(0, 60)).toBe(400);
        expect(r.body.code).toBe('VALIDATION_FAILED');
      }
      const outsider = await api(base, 'POST', `/chat/rooms/${room}/messages`, {
        token: cy.token,
        body: { text: 'hi' },
      });
      expect(outsider.status).toBe(403);
      expect(outsider.body.code).toBe('NOT_MEMBER');
      const reading = await api(base, 'GET', `/chat/rooms/${room}/messages`, { token: cy.token });
      expect(reading.status).toBe(403);
      expect(reading.body.code).toBe('NOT_MEMBER');
      const { rows } = await sql.query('SELECT count(*)::int AS n FROM chat_messages WHERE room_id = $1', [
        room,
      ]);
      expect(rows[0].n).toBe(0);
    });

    it('stores a clientMsgId once: a resend answers the same message; another text or room is 422', async () => {
      const room = await roomWith(base, ada.token);
      const other = await roomWith(base, ada.token);
      const send = (r: string, text: string) =>
        api(base, 'POST', `/chat/rooms/${r}/messages`, {
          token: ada.token,
          body: { text, clientMsgId: 'm-1' },
        });
      const first = await send(room, 'hello');
      expect(first.status).toBe(201);
      expect(first.body.clientMsgId).toBe('m-1');
      const again = await send(room, 'hello');
      expect(again.status).toBe(201);
      expect(again.body).toEqual(first.body);
      for (const [r, text] of [
        [room, 'hello?'],
        [other, 'hello'],
      ]) {
        const reused = await send(r, text);
        expect(reused.status).toBe(422);
        expect(reused.body.code).toBe('IDEMPOTENCY_KEY_REUSED');
      }
      // Another user may use the same clientMsgId.
      await api(base, 'POST', `/chat/rooms/${room}/members`, { token: bob.token });
      const bobs = await api(base, 'POST', `/chat/rooms/${room}/messages`, {
        token: bob.token,
        body: { text: 'hello', clientMsgId: 'm-1' },
      });
      expect(bobs.status).toBe(201);
      expect(bobs.body.seq).toBe(2);
      const { rows } = await sql.query<{ seq: string }>(
        'SELECT seq FROM chat_messages WHERE room_id = ANY($1::bigint[]) ORDER BY room_id, seq',
        [[room, other]],
      );
      expect(rows.map((r) => r.seq)).toEqual(['1', '2']);
    });

    it('gives 300 concurrent sends seqs 1..300 with no gap, and 20 concurrent resends of one clientMsgId one row', async () => {
      const users = await createUsers(base, 10);
      const room = await roomWith(
        base,
        ada.token,
        users.map((u) => u.token),
      );
      const answers = await Promise.all(
        Array.from({ length: 300 }, (_, i) =>
          api(base, 'POST', `/chat/rooms/${room}/messages`, {
            token: users[i % users.length].token,
            body: { text: `m${i}`, ...(i % 3 === 0 ? { clientMsgId: `c${i}` } : {}) },
          }),
        ),
      );
      expect(answers.map((a) => a.status)).toEqual(answers.map(() => 201));
      const seqs = answers.map((a) => a.body.seq as number).sort((a, b) => a - b);
      expect(seqs).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));

      const resends = await Promise.all(
        Array.from({ length: 20 }, () =>
          api(base, 'POST', `/chat/rooms/${room}/messages`, {
            token: users[0].token,
            body: { text: 'once', clientMsgId: 'the-one' },
          }),
        ),
      );
      expect(new Set(resends.map((r) => `${r.status}:${r.body.seq}:${r.body.id}`)).size).toBe(1);
      expect(resends[0].body.seq).toBe(301);
      const { rows } = await sql.query<{ n: number; max: string; distinct: number }>(
        'SELECT count(*)::int AS n, max(seq)::text AS max, count(DISTINCT seq)::int AS distinct FROM chat_messages WHERE room_id = $1',
        [room],
      );
      expect(rows[0]).toEqual({ n: 301, max: '301', distinct: 301 });
    });

    it('answers who is online (nobody without sockets) for a room that exists', async () => {
      const room = await roomWith(base, ada.token);
      const r = await api(base, 'GET', `/chat/rooms/${room}/online`);
      expect(r.status).toBe(200);
      expect(r.body).toEqual({ items: [] });
    });

    it('refuses a plain GET of the WebSocket endpoint', async () => {
      const r = await api(base, 'GET', '/chat/ws', { token: ada.token });
      expect(r.status).toBe(400);
      expect(r.body.code).toBe('VALIDATION_FAILED');
      expect((await api(base, 'GET', '/chat/ws')).status).toBe(401);
    });
  });
}
