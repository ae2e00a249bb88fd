/**
 * The waiting room in cluster mode under faults, with real processes on one PostgreSQL + Redis:
 *   - the process holding the admitter lease is killed with SIGKILL → another takes over within
 *     seconds, and nobody is admitted twice or out of join order;
 *   - a room's Redis keys are deleted mid-run → the room is rebuilt from PostgreSQL: every entry
 *     keeps its status and place, and admissions go on without a duplicate;
 *   - an admission made by the admitter in one process reaches an event stream open on another at
 *     once, through Redis pub/sub (the stream pump is slowed to a minute, so nothing else could).
 */
import { Redis } from 'ioredis';
import pg from 'pg';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  ADMIN_TOKEN,
  clusterAvailable,
  createDatabaseFor,
  createUsers,
  JWT_SECRET,
  until as poll,
  type TestDatabase,
  type TestUser,
} from '../support/harness.js';
import { type ServerProcess, spawnServer } from '../support/process.js';

async function call(
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE',
  url: string,
  token?: string,
  body?: unknown,
) {
  const res = await request(url, {
    method,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.body.text();
  // biome-ignore lint/suspicious/noExplicitAny: answers are asserted field by field
  return { status: res.statusCode, body: (text ? JSON.parse(text) : null) as any };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const until = <T>(what: string, fn: () => Promise<T | undefined>, ms = 20_000) => poll(what, fn, ms, 100);

describe.skipIf(!clusterAvailable())('waiting room under faults (cluster, real processes)', () => {
  let db: TestDatabase;
  let env: Record<string, string>;
  let users: TestUser[];
  let pool: pg.Pool;
  const procs: ServerProcess[] = [];
  const redisUrl = inject('redisUrl');

  const alive = () => procs.filter((p) => p.running());
  const api = (p: ServerProcess) => `${p.url}/api/v1`;

  /** The servers' view of one user's entry, asked of a live process. */
  const entry = async (room: string, u: TestUser) =>
    (await call('GET', `${api(alive()[0])}/waiting-rooms/${room}/entries/me`, u.token)).body;

  /** Admission log rows of a room, in decision order. */
  const admissions = async (room: string) =>
    (
      await pool.query<{ user_id: string; seq: string }>(
        'SELECT user_id::text AS user_id, seq FROM waiting_room_admissions WHERE room_id = $1 ORDER BY id',
        [room],
      )
    ).rows;

  const expectFairLog = async (room: string) => {
    const log = await admissions(room);
    const seqs = log.map((r) => Number(r.seq));
    expect(new Set(log.map((r) => r.user_id)).size).toBe(log.length); // nobody twice
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b)); // no overtaking
    return log;
  };

  beforeAll(async () => {
    db = await createDatabaseFor('cluster');
    env = {
      DATABASE_URL: db.url,
      REDIS_URL: redisUrl,
      REDIS_PREFIX: db.redisPrefix,
      ADMIN_TOKEN,
      JWT_SECRET,
    };
    procs.push(await spawnServer(env), await spawnServer(env));
    users = await createUsers(procs[0].url, 200);
    pool = new pg.Pool({ connectionString: db.url, max: 2 });
  });
  afterAll(async () => {
    await pool?.end();
    await Promise.all(procs.map((p) => p.stop()));
    await db?.drop();
  });

  it('replaces an admitter killed with SIGKILL within seconds, and admits nobody twice', async () => {
    const room = (
      await call('POST', `${api(procs[0])}/admin/waiting-rooms`, ADMIN_TOKEN, { name: 'fault', maxActive: 5 })
    ).body.id as string;
    const crowd = users.slice(0, 40);
    for (const [i, u] of crowd.entries()) {
      expect((await call('POST', `${api(procs[i % 2])}/waiting-rooms/${room}/entries`, u.token)).status).toBe(
        201,
      );
    }
    await until('5 admitted', async () => ((await admissions(room)).length === 5 ? true : undefined));

    const leader = await until('a leader', async () => {
      for (const p of alive()) {
        const r = await call('GET', `${p.url}/readyz`);
        if (/admitter in this process/.test(r.body?.checks?.waitingRooms?.detail ?? '')) return p;
      }
      return undefined;
    });
    await leader.kill('SIGKILL');
    await leader.exited;

    // Free the five slots from the surviving process: the next five must be admitted by it.
    const log5 = await admissions(room);
    const survivor = alive()[0];
    for (const { user_id } of log5) {
      const u = crowd.find((c) => c.id === user_id) as TestUser;
      expect(
        (await call('DELETE', `${api(survivor)}/waiting-rooms/${room}/entries/me`, u.token)).status,
      ).toBe(204);
    }
    const started = Date.now();
    await until('five more admitted after the takeover', async () =>
      (await admissions(room)).length === 10 ? true : undefined,
    );
    expect(Date.now() - started).toBeLessThan(15_000);
    const r = await call('GET', `${survivor.url}/readyz`);
    expect(r.body.checks.waitingRooms.detail).toMatch(/admitter in this process/);
    await expectFairLog(room);

    procs.push(await spawnServer(env)); // two processes again for the next test
  });

  it('pushes an admission to event streams open on every process, not only the admitter’s', async () => {
    // Two processes of their own whose stream pump runs once a minute: only a push can deliver.
    const slow = { ...env, WAITING_ROOM_STREAM_PUMP_MS: '60000' };
    const pair = [await spawnServer(slow), await spawnServer(slow)];
    procs.push(...pair);
    const room = (
      await call('POST', `${api(pair[0])}/admin/waiting-rooms`, ADMIN_TOKEN, { name: 'push', maxActive: 4 })
    ).body.id as string;
    expect(
      (await call('PATCH', `${api(pair[0])}/admin/waiting-rooms/${room}`, ADMIN_TOKEN, { paused: true }))
        .status,
    ).toBe(200);
    const crowd = users.slice(150, 154);
    for (const u of crowd)
      expect((await call('POST', `${api(pair[0])}/waiting-rooms/${room}/entries`, u.token)).status).toBe(201);
    // Each user's stream on one of the two processes; only one of them holds the admitter lease.
    const texts = crowd.map(() => '');
    const streams = await Promise.all(
      crowd.map((u, i) =>
        request(`${api(pair[i % 2])}/waiting-rooms/${room}/entries/me/events?access_token=${u.token}`),
      ),
    );
    const readers = streams.map(async (res, i) => {
      expect(res.statusCode).toBe(200);
      for await (const chunk of res.body) {
        texts[i] += chunk.toString();
        if (/event: admitted/.test(texts[i])) return;
      }
    });
    await until('every stream has its first position event', async () =>
      texts.every((t) => /event: position/.test(t)) ? true : undefined,
    );
    expect(
      (await call('PATCH', `${api(pair[1])}/admin/waiting-rooms/${room}`, ADMIN_TOKEN, { paused: false }))
        .status,
    ).toBe(200);
    await Promise.race([
      Promise.all(readers),
      sleep(30_000).then(() => {
        throw new Error(`not every stream got its admission: ${JSON.stringify(texts)}`);
      }),
    ]);
    for (const t of texts) expect(t).toMatch(/event: admitted\ndata: \{"status":"ADMITTED".*"pass":"/);
    await Promise.all(pair.map((p) => p.stop()));
  });

  it('rebuilds a room whose Redis keys were deleted mid-run: nobody lost, nobody admitted twice', async () => {
    const room = (
      await call('POST', `${api(alive()[0])}/admin/waiting-rooms`, ADMIN_TOKEN, {
        name: 'lost keys',
        maxActive: 3,
      })
    ).body.id as string;
    const crowd = users.slice(100, 140);
    for (const u of crowd)
      expect((await call('POST', `${api(alive()[0])}/waiting-rooms/${room}/entries`, u.token)).status).toBe(
        201,
      );
    await until('3 admitted', async () => ((await admissions(room)).length === 3 ? true : undefined));
    const before = await Promise.all(crowd.map((u) => entry(room, u)));

    const redis = new Redis(redisUrl);
    try {
      const keys = await redis.keys(`${db.redisPrefix}{room:${room}}*`);
      expect(keys.length).toBeGreaterThan(3);
      await redis.del(...keys);
    } finally {
      redis.disconnect();
    }

    const after = await Promise.all(crowd.map((u) => entry(room, u)));
    expect(after.map((e) => [e.status, e.position])).toEqual(before.map((e) => [e.status, e.position]));
    const again = await call('POST', `${api(alive()[1])}/waiting-rooms/${room}/entries`, crowd[10].token);
    expect([again.status, again.body.position]).toEqual([200, before[10].position]);

    // Admission goes on from the rebuilt state.
    for (const [i, e] of after.entries()) {
      if (e.status === 'ADMITTED')
        await call('DELETE', `${api(alive()[0])}/waiting-rooms/${room}/entries/me`, crowd[i].token);
    }
    await until('three more admitted', async () =>
      (await admissions(room)).length === 6 ? true : undefined,
    );
    const log = await expectFairLog(room);
    expect(log).toHaveLength(6);
  });
});
