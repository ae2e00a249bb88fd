/**
 * The waiting room over real sockets, in both modes: one place per person under a crowd, FIFO
 * admission within maxActive and admitPerSecond (checked against PostgreSQL's admission log),
 * idle entries never stall the line, the pre-queue is shuffled at the opening, passes are bound to
 * room and user and expire, a protected coupon needs one and its purchase ends it, and positions
 * are pushed over SSE.
 */
import pg from 'pg';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ADMIN_TOKEN,
  clusterAvailable,
  createDatabaseFor,
  createUsers,
  type Mode,
  until as poll,
  startTestServer,
  type TestDatabase,
  type TestServer,
  type TestUser,
} from '../support/harness.js';

const agent = new Agent({ connections: 512, keepAliveTimeout: 10_000 });

async function call(
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE',
  url: string,
  opts: { token?: string; body?: unknown; headers?: Record<string, string> } = {},
) {
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  const res = await request(url, {
    method,
    headers,
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
    dispatcher: agent,
  });
  const text = await res.body.text();
  // biome-ignore lint/suspicious/noExplicitAny: answers are asserted field by field
  const body: any = text ? JSON.parse(text) : null;
  return { status: res.statusCode, headers: res.headers, body };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const until = <T>(what: string, fn: () => Promise<T | undefined>, ms = 15_000) => poll(what, fn, ms, 50);

for (const mode of ['embedded', 'cluster'] as Mode[]) {
  describe.skipIf(mode === 'cluster' && !clusterAvailable())(`waiting room (${mode})`, () => {
    let db: TestDatabase;
    let server: TestServer;
    let users: TestUser[];
    let pool: pg.Pool;
    let base: string;

    const createRoom = async (body: Record<string, unknown>) => {
      const r = await call('POST', `${base}/admin/waiting-rooms`, {
        token: ADMIN_TOKEN,
        body: { name: 'room', ...body },
      });
      expect(r.status).toBe(201);
      return r.body.id as string;
    };
    const join = (room: string, u: TestUser) =>
      call('POST', `${base}/waiting-rooms/${room}/entries`, { token: u.token });
    const me = (room: string, u: TestUser) =>
      call('GET', `${base}/waiting-rooms/${room}/entries/me`, { token: u.token });

    beforeAll(async () => {
      db = await createDatabaseFor(mode);
      server = await startTestServer(db);
      base = `${server.url}/api/v1`;
      users = await createUsers(server.url, 5000);
      pool = new pg.Pool({ connectionString: db.url, max: 2 });
    });
    afterAll(async () => {
      await pool?.end();
      await server?.close();
      await db?.drop();
    });

    it('gives 5,000 users joining at once the places 1..5,000, and a second join the same place', async () => {
      const room = await createRoom({ maxActive: 1, opensAt: new Date(Date.now() - 60_000).toISOString() });
      // Hold admission so places stay put while we look.
      await call('PATCH', `${base}/admin/waiting-rooms/${room}`, {
        token: ADMIN_TOKEN,
        body: { paused: true },
      });
      const answers = await Promise.all(users.map((u) => join(room, u)));
      expect(answers.every((a) => a.status === 201)).toBe(true);
      const again = await Promise.all(users.slice(0, 500).map((u) => join(room, u)));
      expect(again.every((a) => a.status === 200)).toBe(true);
      const places = await Promise.all(users.map(async (u) => (await me(room, u)).body.position as number));
      expect(new Set(places).size).toBe(5000);
      expect(Math.min(...places)).toBe(1);
      expect(Math.max(...places)).toBe(5000);
      for (let i = 0; i < 500; i++) expect(again[i].body.position).toBe(places[i]);
      const rows = await pool.query(
        'SELECT count(*)::int AS n, count(DISTINCT seq)::int AS d FROM waiting_room_entries WHERE room_id = $1',
        [room],
      );
      expect(rows.rows[0]).toEqual({ n: 5000, d: 5000 });
      const status = await call('GET', `${base}/waiting-rooms/${room}`);
      expect(status.body).toMatchObject({ waiting: 5000, active: 0, paused: true, maxActive: 1 });
    });

    it('admits in join order within maxActive while admitted users finish at random', async () => {
      const room = await createRoom({ maxActive: 10 });
      const crowd = users.slice(0, 60);
      for (const u of crowd) expect((await join(room, u)).status).toBe(201);
      let finished = 0;
      while (finished < crowd.length) {
        const views = await Promise.all(crowd.map(async (u) => ({ u, e: (await me(room, u)).body })));
        const admitted = views.filter((v) => v.e.status === 'ADMITTED');
        expect(admitted.length).toBeLessThanOrEqual(10);
        // Finish a random half of the admitted ones by leaving (frees the slot).
        for (const v of admitted.filter(() => Math.random() < 0.5)) {
          expect(
            (await call('DELETE', `${base}/waiting-rooms/${room}/entries/me`, { token: v.u.token })).status,
          ).toBe(204);
          finished += 1;
        }
        await sleep(100);
      }
      const log = await pool.query<{ seq: string }>(
        'SELECT seq FROM waiting_room_admissions WHERE room_id = $1 ORDER BY id',
        [room],
      );
      const seqs = log.rows.map((r) => Number(r.seq));
      expect(seqs).toHaveLength(60);
      expect(seqs).toEqual([...seqs].sort((a, b) => a - b)); // no overtaking
      expect(new Set(seqs).size).toBe(60); // nobody twice
    });

    it('never loses nor lets anyone overtake an entry whose join is still being committed', async () => {
      const room = await createRoom({ maxActive: 10_000 });
      const crowd = users.slice(700, 1000);
      const joins = await Promise.all(crowd.map((u) => join(room, u)));
      expect(joins.every((j) => j.status === 201)).toBe(true);
      await until('everyone admitted', async () => {
        const { rows } = await pool.query(
          'SELECT count(*)::int AS n FROM waiting_room_admissions WHERE room_id = $1',
          [room],
        );
        return rows[0].n === crowd.length ? true : undefined;
      });
      const entries = await Promise.all(crowd.map((u) => me(room, u)));
      expect(entries.map((e) => e.status)).toEqual(crowd.map(() => 200));
      expect(entries.every((e) => e.body.status === 'ADMITTED')).toBe(true);
      const log = await pool.query<{ seq: string }>(
        'SELECT seq FROM waiting_room_admissions WHERE room_id = $1 ORDER BY id',
        [room],
      );
      const seqs = log.rows.map((r) => Number(r.seq));
      expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
    });

    it('keeps to admitPerSecond when only a rate is set', async () => {
      const room = await createRoom({ admitPerSecond: 20 });
      await Promise.all(users.slice(0, 100).map((u) => join(room, u)));
      await sleep(3_000);
      const { rows } = await pool.query<{ t: Date }>(
        'SELECT admitted_at AS t FROM waiting_room_admissions WHERE room_id = $1 ORDER BY admitted_at',
        [room],
      );
      expect(rows.length).toBeGreaterThan(20);
      expect(rows.length).toBeLessThanOrEqual(100);
      // Over any one-second window: at most the rate, plus one tick's worth (the bucket's cap).
      const times = rows.map((r) => r.t.getTime());
      for (let i = 0; i < times.length; i++) {
        const inWindow = times.filter((t) => t >= times[i] && t < times[i] + 1000).length;
        expect(inWindow).toBeLessThanOrEqual(20 + 4);
      }
    });

    it('drops entries without a heartbeat, so the line moves on', async () => {
      const room = await createRoom({ maxActive: 1, idleTimeoutSeconds: 5 });
      const [first, idle, alive] = users.slice(100, 103);
      for (const u of [first, idle, alive]) await join(room, u);
      await until('first admitted', async () =>
        (await me(room, first)).body.status === 'ADMITTED' ? true : undefined,
      );
      // `alive` keeps polling (a heartbeat), `idle` goes quiet; `first` leaves after 6 s.
      const deadline = Date.now() + 6_000;
      while (Date.now() < deadline) {
        await me(room, alive);
        await sleep(500);
      }
      await call('DELETE', `${base}/waiting-rooms/${room}/entries/me`, { token: first.token });
      const next = await until('alive admitted', async () => {
        const e = (await me(room, alive)).body;
        return e.status === 'ADMITTED' ? e : undefined;
      });
      expect(next.status).toBe('ADMITTED');
      expect((await me(room, idle)).body.status).toBe('EXPIRED');
      const { rows } = await pool.query(
        'SELECT status FROM waiting_room_entries WHERE room_id = $1 AND user_id = $2',
        [room, idle.id],
      );
      expect(rows[0].status).toBe('EXPIRED');
    });

    it('places everyone who joined before the opening once, in an order that is not the join order', async () => {
      const opensAt = Date.now() + 2_000;
      const room = await createRoom({ maxActive: 1, opensAt: new Date(opensAt).toISOString() });
      const early = users.slice(200, 300);
      for (const u of early) {
        const j = await join(room, u);
        expect([j.status, j.body.position]).toEqual([201, null]);
      }
      await until('all placed', async () => {
        const { rows } = await pool.query(
          'SELECT count(*)::int AS n FROM waiting_room_entries WHERE room_id = $1 AND seq IS NOT NULL',
          [room],
        );
        return rows[0].n === 100 ? true : undefined;
      });
      const { rows } = await pool.query<{ user_id: string; seq: string }>(
        'SELECT user_id::text AS user_id, seq FROM waiting_room_entries WHERE room_id = $1 ORDER BY seq',
        [room],
      );
      const order = rows.map((r) => r.user_id);
      expect(new Set(order).size).toBe(100);
      expect(order).not.toEqual(early.map((u) => u.id));
      expect(rows.map((r) => Number(r.seq))).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
    });

    it('protects a coupon: no pass, a forged or another user’s pass → NOT_ADMITTED; the purchase ends the pass and frees the slot', async () => {
      const room = await createRoom({ maxActive: 1 });
      const coupon = await call('POST', `${base}/admin/coupons`, {
        token: ADMIN_TOKEN,
        body: {
          name: 'protected',
          discount: { type: 'AMOUNT', value: 1 },
          quantity: 10,
          waitingRoomId: room,
        },
      });
      expect([coupon.status, coupon.body.waitingRoomId]).toEqual([201, room]);
      const issue = (u: TestUser, pass?: string) =>
        call('POST', `${base}/coupons/${coupon.body.id}/issue`, {
          token: u.token,
          headers: pass ? { 'x-waiting-room-pass': pass } : {},
        });
      // A signature changed where every character counts: the last one of base64url carries only 4
      // bits, so changing the last two could, once in ~1,000 passes, decode to the same bytes.
      const tamper = (pass: string) => {
        const i = pass.length - 6;
        return `${pass.slice(0, i)}${pass[i] === 'A' ? 'B' : 'A'}${pass.slice(i + 1)}`;
      };
      const [a, b] = users.slice(400, 402);
      await join(room, a);
      await join(room, b);
      const entryA = await until('a admitted', async () => {
        const e = (await me(room, a)).body;
        return e.status === 'ADMITTED' ? e : undefined;
      });
      expect(entryA.pass).toEqual(expect.any(String));
      expect((await me(room, b)).body).toMatchObject({ status: 'WAITING', position: 1, ahead: 0 });

      for (const [who, pass] of [
        [a, undefined],
        [a, 'forged.pass'],
        [a, tamper(entryA.pass)],
        [b, entryA.pass],
      ] as const) {
        const r = await issue(who, pass);
        expect([r.status, r.body.code]).toEqual([403, 'NOT_ADMITTED']);
        expect(r.headers['content-type']).toMatch(/application\/problem\+json/);
      }
      expect((await issue(a, entryA.pass)).status).toBe(201);
      expect((await me(room, a)).body.status).toBe('DONE');
      // The pass is used up, and the slot went to b.
      expect((await issue(a, entryA.pass)).body.code).toBe('NOT_ADMITTED');
      await until('b admitted', async () =>
        (await me(room, b)).body.status === 'ADMITTED' ? true : undefined,
      );
      const created = await call('POST', `${base}/admin/coupons`, {
        token: ADMIN_TOKEN,
        body: { name: 'x', discount: { type: 'AMOUNT', value: 1 }, quantity: 1, waitingRoomId: '999999' },
      });
      expect([created.status, created.body.code]).toEqual([400, 'VALIDATION_FAILED']);
    });

    it('answers PASS_EXPIRED once the pass has expired', async () => {
      const room = await createRoom({ maxActive: 5, passTtlSeconds: 10 });
      const coupon = await call('POST', `${base}/admin/coupons`, {
        token: ADMIN_TOKEN,
        body: { name: 'short', discount: { type: 'AMOUNT', value: 1 }, quantity: 10, waitingRoomId: room },
      });
      const u = users[500];
      await join(room, u);
      const e = await until('admitted', async () => {
        const x = (await me(room, u)).body;
        return x.status === 'ADMITTED' ? x : undefined;
      });
      await sleep(Math.max(0, new Date(e.passExpiresAt).getTime() - Date.now()) + 300);
      const r = await call('POST', `${base}/coupons/${coupon.body.id}/issue`, {
        token: u.token,
        headers: { 'x-waiting-room-pass': e.pass },
      });
      expect([r.status, r.body.code]).toEqual([403, 'PASS_EXPIRED']);
      await until('entry expired', async () =>
        (await me(room, u)).body.status === 'EXPIRED' ? true : undefined,
      );
    });

    it('pushes positions and the admission over SSE (token in the query string)', async () => {
      const room = await createRoom({ maxActive: 1 });
      const [first, second] = users.slice(600, 602);
      await join(room, first);
      await join(room, second);
      await until('first admitted', async () =>
        (await me(room, first)).body.status === 'ADMITTED' ? true : undefined,
      );
      const res = await request(
        `${base}/waiting-rooms/${room}/entries/me/events?access_token=${second.token}`,
        {
          dispatcher: agent,
        },
      );
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-type']).toMatch(/^text\/event-stream/);
      let text = '';
      const reading = (async () => {
        for await (const chunk of res.body) {
          text += chunk.toString();
          if (/event: admitted/.test(text)) return;
        }
      })();
      await until('a position event', async () => (/event: position/.test(text) ? true : undefined));
      expect(text).toMatch(/event: position\ndata: \{"status":"WAITING","position":1,"ahead":0/);
      await call('DELETE', `${base}/waiting-rooms/${room}/entries/me`, { token: first.token });
      await reading;
      expect(text).toMatch(/event: admitted\ndata: \{"status":"ADMITTED".*"pass":"/);
    });

    it('refuses bad input with documented 4xx answers', async () => {
      const bad = [
        await call('POST', `${base}/admin/waiting-rooms`, { token: ADMIN_TOKEN, body: { name: 'x' } }),
        await call('POST', `${base}/admin/waiting-rooms`, {
          token: ADMIN_TOKEN,
          body: { name: 'x', maxActive: 0 },
        }),
        await call('POST', `${base}/admin/waiting-rooms`, {
          token: ADMIN_TOKEN,
          body: { name: 'x', maxActive: 1, passTtlSeconds: 5 },
        }),
        await call('POST', `${base}/admin/waiting-rooms`, {
          token: users[0].token,
          body: { name: 'x', maxActive: 1 },
        }),
        await call('POST', `${base}/waiting-rooms/999999/entries`, { token: users[0].token }),
        await call('GET', `${base}/waiting-rooms/abc`),
        await call('POST', `${base}/waiting-rooms/1/entries`),
        await call('PATCH', `${base}/admin/waiting-rooms/1`, { token: ADMIN_TOKEN, body: {} }),
      ];
      expect(bad.map((r) => [r.status, r.body.code])).toEqual([
        [400, 'VALIDATION_FAILED'],
        [400, 'VALIDATION_FAILED'],
        [400, 'VALIDATION_FAILED'],
        [403, 'FORBIDDEN'],
        [404, 'NOT_FOUND'],
        [404, 'NOT_FOUND'],
        [401, 'UNAUTHENTICATED'],
        [400, 'VALIDATION_FAILED'],
      ]);
      const room = await createRoom({ maxActive: 1 });
      expect((await me(room, users[0])).status).toBe(404);
      expect(
        (await call('DELETE', `${base}/waiting-rooms/${room}/entries/me`, { token: users[0].token })).status,
      ).toBe(404);
    });
  });
}
