/**
 * Rehearsal data, in both modes: rows created with a runTag (and everything their users own) are
 * left out of best sellers unless includeDrill=true, and DELETE /api/v1/admin/runs/:runTag removes
 * exactly them in one transaction — real rows untouched, except what the run took from them given
 * back (stock, coupon units) — with the gates forgetting deleted rooms and entries. Plus its
 * refusals (400, 401, 403, 404), a failure half-way that leaves everything in place, and a check that
 * the deletion knows every foreign key that points at what it deletes.
 */
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CouponsRepository } from '../../src/modules/coupons/repository.js';
import { couponUnits } from '../../src/modules/coupons/service.js';
import { RUN_REFERENCES } from '../../src/modules/runs/repository.js';
import {
  ADMIN_TOKEN,
  call,
  type Env,
  get,
  type Mode,
  one,
  order,
  post,
  startEnv,
  type TestUser,
  waitFor,
} from '../commerce/support.js';
import { clusterAvailable } from '../support/harness.js';

const TAG = 'drill-20261128-000000-abc123';

async function del(env: Env, path: string, token?: string) {
  const res = await request(`${env.server.url}${path}`, {
    method: 'DELETE',
    headers: token ? { authorization: `Bearer ${token}` } : {},
    dispatcher: env.agent,
  });
  const text = await res.body.text();
  return {
    status: res.statusCode,
    type: String(res.headers['content-type']),
    body: text ? JSON.parse(text) : null,
  };
}

async function created(env: Env, path: string, body: unknown): Promise<string> {
  const res = await post(env, path, ADMIN_TOKEN, body);
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body.id;
}

async function bulkUsers(env: Env, count: number, runTag?: string): Promise<TestUser[]> {
  const res = await post(env, '/api/v1/admin/users/bulk', ADMIN_TOKEN, {
    count,
    ...(runTag ? { runTag } : {}),
  });
  expect(res.status).toBe(201);
  return res.body.users;
}

const drained = (env: Env) =>
  waitFor('the relay to deliver every event', async () => {
    const r = await one<{ n: number }>(
      env,
      'SELECT count(*)::int AS n FROM outbox WHERE local_done_at IS NULL',
    );
    return r.n === 0;
  });

const popular = async (env: Env, query = '') =>
  (await get(env, `/api/v1/products/popular?days=1&limit=50${query}`)).body.items.map(
    (i: { productId: string; soldQuantity: number }) => [i.productId, i.soldQuantity],
  );

/** Every row of the database that names one of these users, table by table (non-empty only). */
async function rowsOf(env: Env, userIds: string[]): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  const userColumns = [
    ...RUN_REFERENCES.filter((r) => r.endsWith('→ users')).map((r) => r.split(' ')[0]),
    'outbox.user_id',
    'schedule_seats.holder_id',
    'users.id',
  ];
  for (const tc of userColumns) {
    const [table, column] = tc.split('.');
    const exists = await one<{ ok: boolean }>(env, 'SELECT to_regclass($1) IS NOT NULL AS ok', [table]);
    if (!exists.ok) continue;
    const r = await one<{ n: number }>(
      env,
      `SELECT count(*)::int AS n FROM ${table} WHERE ${column} = ANY($1::bigint[])`,
      [userIds],
    );
    if (r.n) out[tc] = r.n;
  }
  return out;
}

/** Everything the real users own and the real rows, as JSON: what must read the same afterwards. */
async function realSnapshot(
  env: Env,
  userIds: string[],
  ids: { products: string[]; coupons: string[]; rooms: string[] },
) {
  const q = async (sql: string, params: unknown[]) => (await env.sql.query(sql, params)).rows;
  return {
    users: await q('SELECT * FROM users WHERE id = ANY($1::bigint[]) ORDER BY id', [userIds]),
    orders: await q('SELECT * FROM orders WHERE user_id = ANY($1::bigint[]) ORDER BY id', [userIds]),
    items: await q(
      'SELECT i.* FROM order_items i JOIN orders o ON o.id = i.order_id WHERE o.user_id = ANY($1::bigint[]) ORDER BY 1, 2',
      [userIds],
    ),
    userCoupons: await q('SELECT * FROM user_coupons WHERE user_id = ANY($1::bigint[]) ORDER BY id', [
      userIds,
    ]),
    ledger: await q('SELECT * FROM point_ledger WHERE user_id = ANY($1::bigint[]) ORDER BY id', [userIds]),
    wallets: await q('SELECT * FROM point_wallets WHERE user_id = ANY($1::bigint[]) ORDER BY user_id', [
      userIds,
    ]),
    keys: await q('SELECT * FROM idempotency_keys WHERE user_id = ANY($1::bigint[]) ORDER BY 1, 2', [
      userIds,
    ]),
    notifications: await q('SELECT * FROM notifications WHERE user_id = ANY($1::bigint[]) ORDER BY id', [
      userIds,
    ]),
    outbox: await q('SELECT id, topic, payload FROM outbox WHERE user_id = ANY($1::bigint[]) ORDER BY id', [
      userIds,
    ]),
    entries: await q('SELECT * FROM waiting_room_entries WHERE user_id = ANY($1::bigint[]) ORDER BY 1, 2', [
      userIds,
    ]),
    products: await q('SELECT * FROM products WHERE id = ANY($1::bigint[]) ORDER BY id', [ids.products]),
    coupons: await q('SELECT * FROM coupons WHERE id = ANY($1::bigint[]) ORDER BY id', [ids.coupons]),
    rooms: await q('SELECT * FROM waiting_rooms WHERE id = ANY($1::bigint[]) ORDER BY id', [ids.rooms]),
  };
}

for (const mode of ['embedded', 'cluster'] as Mode[]) {
  describe.skipIf(mode === 'cluster' && !clusterAvailable())(`rehearsal data (${mode})`, () => {
    let env: Env;
    let ann: TestUser;
    let bob: TestUser;
    let tagged: TestUser[];
    // real: P0 (product), K0 (coupon), R0 (room); the run's: P1 P2 (bulk), P3 (bought by ann: kept),
    // P4, KT, RT and KR (a coupon in front of RT).
    const id: Record<string, string> = {};

    beforeAll(async () => {
      env = await startEnv(mode);
      [ann, bob] = await bulkUsers(env, 2);
      tagged = await bulkUsers(env, 3, TAG);
      const [t1, t2, t3] = tagged;
      id.P0 = await created(env, '/api/v1/admin/products', { name: 'real', price: 100, stock: 100 });
      const bulk = await post(env, '/api/v1/admin/products/bulk', ADMIN_TOKEN, {
        products: [
          { name: 'drill 1', price: 100, stock: 10 },
          { name: 'drill 2', price: 100, stock: 10 },
        ],
        runTag: TAG,
      });
      expect(bulk.status).toBe(201);
      [id.P1, id.P2] = bulk.body.ids;
      id.P3 = await created(env, '/api/v1/admin/products', {
        name: 'drill 3',
        price: 100,
        stock: 10,
        runTag: TAG,
      });
      id.P4 = await created(env, '/api/v1/admin/products', {
        name: 'drill 4',
        price: 100,
        stock: 10,
        runTag: TAG,
      });
      id.K0 = await created(env, '/api/v1/admin/coupons', {
        name: 'real',
        discount: { type: 'AMOUNT', value: 50 },
        quantity: 10,
      });
      id.KT = await created(env, '/api/v1/admin/coupons', {
        name: 'drill',
        discount: { type: 'AMOUNT', value: 50 },
        quantity: 10,
        runTag: TAG,
      });
      id.R0 = await created(env, '/api/v1/admin/waiting-rooms', { name: 'real line', maxActive: 1 });
      id.RT = await created(env, '/api/v1/admin/waiting-rooms', {
        name: 'drill line',
        maxActive: 100,
        runTag: TAG,
      });
      id.KR = await created(env, '/api/v1/admin/coupons', {
        name: 'drill, protected',
        discount: { type: 'AMOUNT', value: 50 },
        quantity: 10,
        waitingRoomId: id.RT,
        runTag: TAG,
      });

      for (const [i, u] of [ann, bob, t1, t2, t3].entries()) {
        expect(
          (await post(env, '/api/v1/me/points/charge', u.token, { amount: 10_000 }, `charge-${i}`)).status,
        ).toBe(200);
      }
      const issue = async (u: TestUser, coupon: string) => {
        const r = await call(env, 'POST', `/api/v1/coupons/${coupon}/issue`, { token: u.token });
        expect(r.status, JSON.stringify(r.body)).toBe(201);
        return r.body.userCouponId as string;
      };
      await issue(bob, id.K0);
      const t3Real = await issue(t3, id.K0);
      await issue(t3, id.KT);
      const bought = [
        await order(env, t1.token, [
          { productId: id.P1, quantity: 2 },
          { productId: id.P0, quantity: 3 },
        ]),
        await order(env, t2.token, [{ productId: id.P2, quantity: 1 }]),
        await order(env, t3.token, [{ productId: id.P0, quantity: 1 }], t3Real),
        await order(env, ann.token, [{ productId: id.P0, quantity: 4 }]),
        await order(env, ann.token, [{ productId: id.P3, quantity: 1 }]),
      ];
      for (const b of bought) expect(b.status, JSON.stringify(b.body)).toBe(201);

      // ann is admitted to the real line (maxActive 1); t1, then bob, wait behind her.
      expect((await post(env, `/api/v1/waiting-rooms/${id.R0}/entries`, ann.token, undefined)).status).toBe(
        201,
      );
      await waitFor(
        'ann admitted',
        async () =>
          (await get(env, `/api/v1/waiting-rooms/${id.R0}/entries/me`, ann.token)).body.status === 'ADMITTED',
      );
      expect((await post(env, `/api/v1/waiting-rooms/${id.R0}/entries`, t1.token, undefined)).status).toBe(
        201,
      );
      expect((await post(env, `/api/v1/waiting-rooms/${id.R0}/entries`, bob.token, undefined)).status).toBe(
        201,
      );
      expect((await post(env, `/api/v1/waiting-rooms/${id.RT}/entries`, t2.token, undefined)).status).toBe(
        201,
      );
      await waitFor(
        't2 admitted',
        async () =>
          (await get(env, `/api/v1/waiting-rooms/${id.RT}/entries/me`, t2.token)).body.status === 'ADMITTED',
      );
      // Chat: t1 opens a room (bob joins it and talks there) and talks in ann's room too.
      const chat = async (u: TestUser, path: string, body?: unknown) => {
        const r = await post(env, `/api/v1/chat/rooms${path}`, u.token, body);
        expect(r.status, JSON.stringify(r.body)).toBeLessThan(300);
        return r.body;
      };
      id.CA = (await chat(ann, '', { name: 'real room' })).id;
      id.CT = (await chat(t1, '', { name: 'drill room' })).id;
      await chat(bob, `/${id.CT}/members`);
      await chat(bob, `/${id.CT}/messages`, { text: 'hi from bob' });
      await chat(t1, `/${id.CA}/members`);
      await chat(t1, `/${id.CA}/messages`, { text: 'hi from t1' });
      await chat(ann, `/${id.CA}/messages`, { text: 'hi from ann' });
      await drained(env);
    });
    afterAll(() => env?.close());

    it('tags exactly the rows created with a runTag', async () => {
      const tags = async (table: string, ids: string[]) =>
        (
          await env.sql.query(
            `SELECT id::text, run_tag FROM ${table} WHERE id = ANY($1::bigint[]) ORDER BY id`,
            [ids],
          )
        ).rows.map((r) => r.run_tag);
      expect(await tags('users', [ann.id, bob.id, ...tagged.map((u) => u.id)])).toEqual([
        null,
        null,
        TAG,
        TAG,
        TAG,
      ]);
      expect(await tags('products', [id.P0, id.P1, id.P2, id.P3, id.P4])).toEqual([null, TAG, TAG, TAG, TAG]);
      expect(await tags('coupons', [id.K0, id.KT, id.KR])).toEqual([null, TAG, TAG]);
      expect(await tags('waiting_rooms', [id.R0, id.RT])).toEqual([null, TAG]);
      const list = await get(env, '/api/v1/admin/coupons?limit=100', ADMIN_TOKEN);
      expect(list.body.items.map((c: { runTag: string | null }) => c.runTag)).toEqual([null, TAG, TAG]);
    });

    it("leaves the run's orders and products out of best sellers unless includeDrill=true", async () => {
      // Delivered and applied (the relay fed the store), yet not counted: only ann's real purchase is.
      expect(await popular(env)).toEqual([[id.P0, 4]]);
      expect(await popular(env, '&includeDrill=false')).toEqual([[id.P0, 4]]);
      expect(await popular(env, '&includeDrill=true')).toEqual([
        [id.P0, 8],
        [id.P1, 2],
        [id.P2, 1],
        [id.P3, 1],
      ]);
      const bad = await get(env, '/api/v1/products/popular?includeDrill=yes');
      expect(bad.status).toBe(400);
      expect(bad.body.code).toBe('VALIDATION_FAILED');
      // The SQL fallback and the truth the store must equal agree.
      const { ranking } = env.server.runtime.services;
      expect(Object.fromEntries(await ranking.totalsFromSql(1))).toEqual({ [id.P0]: 4 });
      expect(Object.fromEntries(await ranking.totals(1))).toEqual({ [id.P0]: 4 });
    });

    it('rebuilds best sellers from PostgreSQL without the rehearsal, and redelivered events add nothing', async () => {
      const { ranking } = env.server.runtime.services;
      if (mode === 'cluster') {
        const redis = env.server.runtime.infra.redis()!;
        const keys = await redis.keys(`${env.db.redisPrefix}{ranking}*`);
        await redis.del(...keys);
        expect(await ranking.ensureBuilt()).toBe(true);
      } else {
        const { MemoryRankingStore } = await import('../../src/modules/ranking/memory-store.js');
        const { RankingService } = await import('../../src/modules/ranking/service.js');
        const { RankingRepository } = await import('../../src/modules/ranking/repository.js');
        const { services, infra, log } = env.server.runtime;
        const fresh = new RankingService(
          new MemoryRankingStore(),
          new RankingRepository(infra.postgres()),
          services.catalog,
          infra.metrics,
          log,
        );
        expect(await fresh.ensureBuilt()).toBe(true);
        expect(Object.fromEntries(await fresh.totals(1))).toEqual({ [id.P0]: 4 });
      }
      await env.sql.query('UPDATE outbox SET local_done_at = NULL');
      await drained(env);
      expect(Object.fromEntries(await ranking.totals(1))).toEqual({ [id.P0]: 4 });
    });

    it('deletes the run in one go: its rows gone, real rows as they were, what it took given back', async () => {
      const realUsers = [ann.id, bob.id];
      const realIds = { products: [id.P0], coupons: [id.K0], rooms: [id.R0] };
      const before = await realSnapshot(env, realUsers, realIds);
      const taggedIds = tagged.map((u) => u.id);
      expect(Object.keys(await rowsOf(env, taggedIds)).length).toBeGreaterThan(8);
      const bobBefore = await get(env, `/api/v1/waiting-rooms/${id.R0}/entries/me`, bob.token);
      expect(bobBefore.body).toMatchObject({ status: 'WAITING', position: 2, ahead: 1 });

      const res = await del(env, `/api/v1/admin/runs/${TAG}`, ADMIN_TOKEN);
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      expect(res.body).toEqual({
        runTag: TAG,
        deleted: {
          users: 3,
          products: 3,
          coupons: 2,
          waitingRooms: 1,
          orders: 3,
          orderItems: 4,
          userCoupons: 2,
          pointLedger: 6,
          pointWallets: 3,
          idempotencyKeys: 3,
          notifications: 5,
          outbox: 5,
          waitingRoomEntries: 2,
          waitingRoomAdmissions: 1,
          seatReservations: 0,
          soldSeats: 0,
          chatRooms: 1,
          chatMembers: 3,
          chatMessages: 2,
        },
        returned: { stock: 4, couponUnits: 1, seats: 0 },
        kept: { products: 1, coupons: 0, waitingRooms: 0 },
      });

      // Nothing of the run's users is left, in any table.
      expect(await rowsOf(env, taggedIds)).toEqual({});
      const left = await env.sql.query(
        `SELECT 'products' AS t, id::text FROM products WHERE run_tag = $1
         UNION ALL SELECT 'coupons', id::text FROM coupons WHERE run_tag = $1
         UNION ALL SELECT 'waiting_rooms', id::text FROM waiting_rooms WHERE run_tag = $1
         UNION ALL SELECT 'users', id::text FROM users WHERE run_tag = $1`,
        [TAG],
      );
      // P3 stays: ann's order has a line of it.
      expect(left.rows).toEqual([{ t: 'products', id: id.P3 }]);
      // The drill's chat room is gone whole; ann's room keeps her and her message (seq 2: t1's was 1).
      expect((await env.sql.query('SELECT id FROM chat_rooms WHERE id = $1', [id.CT])).rowCount).toBe(0);
      const annRoom = await env.sql.query<{ user_id: string; seq: string }>(
        'SELECT user_id::text, seq::text FROM chat_messages WHERE room_id = $1',
        [id.CA],
      );
      expect(annRoom.rows).toEqual([{ user_id: ann.id, seq: '2' }]);

      // Real rows read as before, but for what the run took from them: P0's 4 units, K0's 1 unit.
      const after = await realSnapshot(env, realUsers, realIds);
      expect(after.products[0].stock).toBe(before.products[0].stock + 4);
      expect(after.coupons[0].issued_count).toBe(before.coupons[0].issued_count - 1);
      const holders = await one<{ n: number }>(
        env,
        'SELECT count(*)::int AS n FROM user_coupons WHERE coupon_id = $1',
        [id.K0],
      );
      expect(after.coupons[0].issued_count).toBe(holders.n);
      after.products[0].stock = before.products[0].stock;
      after.coupons[0].issued_count = before.coupons[0].issued_count;
      expect(after).toEqual(before);

      // The API agrees; the gates forgot the deleted room and t1's place in the real line.
      expect((await get(env, `/api/v1/waiting-rooms/${id.RT}`)).status).toBe(404);
      // Product reads are cached for at most a second, deleted products included.
      await waitFor(
        'the deleted product to answer 404',
        async () => (await get(env, `/api/v1/products/${id.P1}`)).status === 404,
        3_000,
      );
      await waitFor(
        'the deleted coupon to answer 404',
        async () => (await get(env, `/api/v1/coupons/${id.KT}`)).status === 404,
      );
      const issue = await call(env, 'POST', `/api/v1/coupons/${id.KT}/issue`, { token: bob.token });
      expect(issue.status).toBe(404);
      expect((await get(env, `/api/v1/waiting-rooms/${id.R0}/entries/me`, bob.token)).body).toMatchObject({
        status: 'WAITING',
        position: 1,
        ahead: 0,
      });
      expect((await get(env, `/api/v1/waiting-rooms/${id.R0}`)).body).toMatchObject({
        waiting: 1,
        active: 1,
      });
      expect((await get(env, `/api/v1/coupons/${id.K0}`)).body.remaining).toBe(9);

      // Best sellers, with or without the rehearsal: what is left of it is ann's line of P3.
      expect(await popular(env)).toEqual([[id.P0, 4]]);
      expect(await popular(env, '&includeDrill=true')).toEqual([
        [id.P0, 4],
        [id.P3, 1],
      ]);

      // The coupon reconciler's list has no deleted coupon in it (and reads without error).
      const keys = await couponUnits(
        new CouponsRepository(env.server.runtime.infra.postgres()),
      ).store.activeKeys();
      expect(keys.map((k) => k.key)).toEqual([id.K0]);

      // Deleting again: P3 still carries the tag, and is still kept.
      const again = await del(env, `/api/v1/admin/runs/${TAG}`, ADMIN_TOKEN);
      expect(again.status).toBe(200);
      expect(Object.values(again.body.deleted).every((n) => n === 0)).toBe(true);
      expect(again.body.kept).toEqual({ products: 1, coupons: 0, waitingRooms: 0 });
    });

    it('answers 404 NOT_FOUND for a tag nothing carries', async () => {
      const res = await del(env, '/api/v1/admin/runs/drill-never-used', ADMIN_TOKEN);
      expect(res.status).toBe(404);
      expect(res.type).toMatch(/^application\/problem\+json/);
      expect(res.body).toMatchObject({
        code: 'NOT_FOUND',
        detail: 'nothing carries run tag drill-never-used',
      });
    });

    it('answers 401 without the admin token and 403 with a user token, deleting nothing', async () => {
      const tag = 'drill-auth-test';
      await bulkUsers(env, 1, tag);
      for (const [token, status, code] of [
        [undefined, 401, 'UNAUTHENTICATED'],
        ['wrong', 401, 'UNAUTHENTICATED'],
        [ann.token, 403, 'FORBIDDEN'],
      ] as const) {
        const res = await del(env, `/api/v1/admin/runs/${tag}`, token);
        expect(res.status).toBe(status);
        expect(res.body.code).toBe(code);
      }
      expect(
        (await one<{ n: number }>(env, 'SELECT count(*)::int AS n FROM users WHERE run_tag = $1', [tag])).n,
      ).toBe(1);
    });

    it.each([
      ['a space', 'drill%20run'],
      ['a leading dash', '-drill'],
      ['a leading dot', '.drill'],
      ['65 characters', 'd'.repeat(65)],
      ['a non-ASCII letter', 'dr%C3%BCll'],
      ['a NUL', 'drill%00'],
      ['a quote', "drill'--"],
    ])('answers 400 VALIDATION_FAILED for a tag with %s', async (_what, tag) => {
      const res = await del(env, `/api/v1/admin/runs/${tag}`, ADMIN_TOKEN);
      expect(res.status).toBe(400);
      expect(res.type).toMatch(/^application\/problem\+json/);
      expect(res.body.code).toBe('VALIDATION_FAILED');
      expect(res.body.detail).toMatch(/^params\.runTag /);
    });

    it('refuses a malformed runTag on the create endpoints too', async () => {
      const res = await post(env, '/api/v1/admin/users/bulk', ADMIN_TOKEN, { count: 1, runTag: 'no spaces' });
      expect(res.status).toBe(400);
      expect(res.body.detail).toMatch(/^body\.runTag /);
    });

    it('leaves everything in place when the deletion fails half-way (one transaction)', async () => {
      const tag = 'drill-rollback-test';
      const [u] = await bulkUsers(env, 1, tag);
      const p = await created(env, '/api/v1/admin/products', {
        name: 'rb',
        price: 10,
        stock: 5,
        runTag: tag,
      });
      expect((await post(env, '/api/v1/me/points/charge', u.token, { amount: 100 })).status).toBe(200);
      expect((await order(env, u.token, [{ productId: p, quantity: 1 }])).status).toBe(201);
      await drained(env);
      const before = await rowsOf(env, [u.id]);
      // The last statement (the users) fails: every earlier delete must be rolled back with it.
      await env.sql.query(`CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'refused by the test'; END $$`);
      await env.sql.query(
        'CREATE TRIGGER refuse BEFORE DELETE ON users FOR EACH STATEMENT EXECUTE FUNCTION refuse()',
      );
      try {
        const res = await del(env, `/api/v1/admin/runs/${tag}`, ADMIN_TOKEN);
        expect(res.status).toBe(500);
        expect(res.body.code).toBe('INTERNAL');
        expect(JSON.stringify(res.body)).not.toContain('refused by the test');
      } finally {
        await env.sql.query('DROP TRIGGER refuse ON users');
        await env.sql.query('DROP FUNCTION refuse()');
      }
      expect(await rowsOf(env, [u.id])).toEqual(before);
      expect(before['orders.user_id']).toBe(1);
      expect(
        (await one<{ n: number }>(env, 'SELECT count(*)::int AS n FROM products WHERE id = $1', [p])).n,
      ).toBe(1);
      // And once it can, it goes through.
      expect((await del(env, `/api/v1/admin/runs/${tag}`, ADMIN_TOKEN)).status).toBe(200);
      expect(await rowsOf(env, [u.id])).toEqual({});
    });

    it.runIf(mode === 'embedded')('knows every foreign key pointing at what it deletes', async () => {
      const { rows } = await env.sql.query<{ ref: string }>(
        `SELECT c.conrelid::regclass::text || '.' || a.attname || ' → ' || c.confrelid::regclass::text AS ref
         FROM pg_constraint c JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey)
         WHERE c.contype = 'f'
           AND c.confrelid::regclass::text IN
             ('users', 'products', 'coupons', 'waiting_rooms', 'orders', 'user_coupons', 'seat_reservations')
         ORDER BY 1`,
      );
      const inDatabase = rows.map((r) => r.ref);
      // Every reference in the database is handled; every handled one exists (or its table does not yet).
      expect(inDatabase.filter((r) => !(RUN_REFERENCES as readonly string[]).includes(r))).toEqual([]);
      for (const r of RUN_REFERENCES) {
        const table = r.split('.')[0];
        const exists = await one<{ ok: boolean }>(env, 'SELECT to_regclass($1) IS NOT NULL AS ok', [table]);
        if (exists.ok) expect(inDatabase, r).toContain(r);
      }
    });
  });
}
