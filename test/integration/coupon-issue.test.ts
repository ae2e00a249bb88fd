/**
 * Invariants 1–3 over real sockets, in both modes: never more than the quantity, never twice to a
 * user, and every 201 is a committed row.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ADMIN_TOKEN,
  clusterAvailable,
  createDatabaseFor,
  createUsers,
  httpClient,
  type Mode,
  startTestServer,
  type TestDatabase,
  type TestServer,
  type TestUser,
} from '../support/harness.js';

for (const mode of ['embedded', 'cluster'] as Mode[]) {
  describe.skipIf(mode === 'cluster' && !clusterAvailable())(`FCFS issue over real sockets (${mode})`, () => {
    let db: TestDatabase;
    let server: TestServer;
    let users: TestUser[];
    const client = httpClient(512);

    beforeAll(async () => {
      db = await createDatabaseFor(mode);
      server = await startTestServer(db);
      users = await createUsers(server.url, 5000);
    });
    afterAll(async () => {
      await client.close();
      await server?.close();
      await db?.drop();
    });

    it('issues exactly 1,000 of 1,000 to 5,000 users storming at once with 1,000 retrying', async () => {
      const created = await client.call('POST', `${server.url}/api/v1/admin/coupons`, {
        token: ADMIN_TOKEN,
        body: { name: 'storm', discount: { type: 'AMOUNT', value: 500 }, quantity: 1000 },
      });
      expect(created.status).toBe(201);
      const couponId = created.body.id as string;
      const issueUrl = `${server.url}/api/v1/coupons/${couponId}/issue`;

      // 5,000 distinct users plus 1,000 of them a second time, all in flight together, shuffled.
      const attempts = [...users, ...users.slice(0, 1000)].map((u) => u);
      for (let i = attempts.length - 1; i > 0; i--) {
        const j = Math.floor(Math.random() * (i + 1));
        [attempts[i], attempts[j]] = [attempts[j], attempts[i]];
      }
      const answers = await Promise.all(
        attempts.map(async (u) => ({
          user: u,
          res: await client.call('POST', issueUrl, { token: u.token }),
        })),
      );

      const byStatus = new Map<number, number>();
      for (const a of answers) byStatus.set(a.res.status, (byStatus.get(a.res.status) ?? 0) + 1);
      expect(byStatus.get(201)).toBe(1000);
      for (const status of byStatus.keys()) expect([201, 409, 410]).toContain(status);
      for (const a of answers) {
        if (a.res.status === 409) expect(a.res.body.code).toBe('ALREADY_ISSUED');
        if (a.res.status === 410) expect(a.res.body.code).toBe('SOLD_OUT');
      }

      const winners = answers.filter((a) => a.res.status === 201).map((a) => a.user.id);
      expect(new Set(winners).size).toBe(1000); // no user got two 201s

      const coupon = await client.call('GET', `${server.url}/api/v1/coupons/${couponId}`);
      await new Promise((r) => setTimeout(r, 300)); // remaining may lag by the read cache
      const fresh = await client.call('GET', `${server.url}/api/v1/coupons/${couponId}`);
      expect(coupon.status).toBe(200);
      expect(fresh.body.remaining).toBe(0);

      const pgc = new pg.Client({ connectionString: server.databaseUrl });
      await pgc.connect();
      try {
        const rows = await pgc.query<{ user_id: string }>(
          'SELECT user_id::text AS user_id FROM user_coupons WHERE coupon_id = $1',
          [couponId],
        );
        expect(rows.rows.map((r) => r.user_id).sort()).toEqual([...winners].sort());
        const c = await pgc.query('SELECT issued_count FROM coupons WHERE id = $1', [couponId]);
        expect(c.rows[0].issued_count).toBe(1000);
      } finally {
        await pgc.end();
      }

      // Each winner sees it in their list; a loser does not.
      const winner = users.find((u) => u.id === winners[0])!;
      const mine = await client.call('GET', `${server.url}/api/v1/me/coupons`, { token: winner.token });
      expect(mine.body.items.map((i: { couponId: string }) => i.couponId)).toContain(couponId);
      const loser = users.find((u) => !winners.includes(u.id))!;
      const theirs = await client.call('GET', `${server.url}/api/v1/me/coupons`, { token: loser.token });
      expect(theirs.body.items).toEqual([]);
    });

    it('answers NOT_OPEN before startsAt and after endsAt, NOT_FOUND for unknown coupons', async () => {
      const future = new Date(Date.now() + 3_600_000).toISOString();
      const later = await client.call('POST', `${server.url}/api/v1/admin/coupons`, {
        token: ADMIN_TOKEN,
        body: { name: 'later', discount: { type: 'PERCENT', value: 10 }, quantity: 5, startsAt: future },
      });
      expect(later.status).toBe(201);
      const res = await client.call('POST', `${server.url}/api/v1/coupons/${later.body.id}/issue`, {
        token: users[0].token,
      });
      expect(res.status).toBe(403);
      expect(res.body.code).toBe('NOT_OPEN');

      const ended = await client.call('POST', `${server.url}/api/v1/admin/coupons`, {
        token: ADMIN_TOKEN,
        body: {
          name: 'ended',
          discount: { type: 'AMOUNT', value: 1 },
          quantity: 5,
          startsAt: new Date(Date.now() - 2000).toISOString(),
          endsAt: new Date(Date.now() + 500).toISOString(),
        },
      });
      expect(ended.status).toBe(201);
      await new Promise((r) => setTimeout(r, 700));
      const late = await client.call('POST', `${server.url}/api/v1/coupons/${ended.body.id}/issue`, {
        token: users[0].token,
      });
      expect(late.status).toBe(403);
      expect(late.body.code).toBe('NOT_OPEN');

      const missing = await client.call('POST', `${server.url}/api/v1/coupons/987654/issue`, {
        token: users[0].token,
      });
      expect(missing.status).toBe(404);
      expect(missing.body.code).toBe('NOT_FOUND');
    });

    it('gives a validDays coupon an expiry', async () => {
      const c = await client.call('POST', `${server.url}/api/v1/admin/coupons`, {
        token: ADMIN_TOKEN,
        body: { name: 'week', discount: { type: 'AMOUNT', value: 100 }, quantity: 3, validDays: 7 },
      });
      const res = await client.call('POST', `${server.url}/api/v1/coupons/${c.body.id}/issue`, {
        token: users[1].token,
      });
      expect(res.status).toBe(201);
      const days = (Date.parse(res.body.expiresAt) - Date.now()) / 86_400_000;
      expect(days).toBeGreaterThan(6.9);
      expect(days).toBeLessThan(7.1);
    });
  });
}
