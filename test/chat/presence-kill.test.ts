/**
 * Presence survives a process dying without saying goodbye (cluster mode, real processes from
 * dist/): a server `kill -9`ed while its users' sockets are subscribed stops beating, and its users
 * drop out of presence on the surviving process — a `presence` frame with `online: false` to the
 * room's subscribers there, and gone from GET .../online — once their entries expire (three beats;
 * the beat is shortened to 300 ms here). Users of the surviving process stay online.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  ADMIN_TOKEN,
  clusterAvailable,
  createDatabaseFor,
  createUsers,
  JWT_SECRET,
  type TestDatabase,
  type TestUser,
} from '../support/harness.js';
import { type ServerProcess, spawnServer } from '../support/process.js';
import { api, ChatClient, roomWith, until } from './support.js';

describe.skipIf(!clusterAvailable())(
  'chat presence when a process is killed (cluster, real processes)',
  () => {
    let db: TestDatabase;
    const procs: ServerProcess[] = [];
    const clients: ChatClient[] = [];
    let users: TestUser[];

    beforeAll(async () => {
      db = await createDatabaseFor('cluster');
      const env = {
        DATABASE_URL: db.url,
        REDIS_URL: inject('redisUrl'),
        REDIS_PREFIX: db.redisPrefix,
        ADMIN_TOKEN,
        JWT_SECRET,
        CHAT_PRESENCE_BEAT_MS: '300',
      };
      procs.push(await spawnServer(env), await spawnServer(env));
      users = await createUsers(procs[0].url, 3);
    });
    afterAll(async () => {
      await Promise.all(clients.map((c) => c.close()));
      for (const p of procs) if (p.running()) await p.kill('SIGTERM');
      await db?.drop();
    });

    it("takes a killed process's users out of presence, and keeps the others", async () => {
      const [survivor, doomed] = procs;
      const [ada, bob, cy] = users;
      const room = await roomWith(survivor.url, ada.token, [bob.token, cy.token]);
      const a = await ChatClient.connect(survivor.url, ada.token);
      const c = await ChatClient.connect(survivor.url, cy.token);
      const b = await ChatClient.connect(doomed.url, bob.token);
      clients.push(a, c, b);
      for (const client of [a, c, b]) expect((await client.subscribe(room)).type).toBe('subscribed');
      await a.next((f) => f.type === 'presence' && f.userId === bob.id && f.online === true);
      const onlineIds = async () =>
        ((await api(survivor.url, 'GET', `/chat/rooms/${room}/online`)).body.items as { userId: string }[])
          .map((u) => u.userId)
          .sort();
      await until('all three online', async () => ((await onlineIds()).length === 3 ? true : undefined));

      const from = a.frames.length;
      await doomed.kill('SIGKILL');
      expect(await a.next((f) => f.type === 'presence' && f.userId === bob.id, 15_000, from)).toMatchObject({
        online: false,
        roomId: room,
      });
      expect(await onlineIds()).toEqual([ada.id, cy.id].sort());
      // Nobody on the surviving process went offline with it.
      expect(a.frames.slice(from).filter((f) => f.type === 'presence' && f.userId !== bob.id)).toEqual([]);
    });
  },
);
