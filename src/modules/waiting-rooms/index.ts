import { defineModule } from '../../kernel/module.js';
import { EntryStreams } from './events.js';
import type { WaitingRoomGate } from './gate.js';
import { MemoryWaitingRoomGate } from './memory-gate.js';
import { loadWaitingRoomPage, waitingRoomPageRoutes } from './page.js';
import { PassSigner } from './passes.js';
import { RedisWaitingRoomGate } from './redis-gate.js';
import { type NewEntry, WaitingRoomsRepository } from './repository.js';
import { waitingRoomsRoutes } from './routes.js';
import { WaitingRoomsService } from './service.js';

declare module '../../kernel/module.js' {
  interface ModuleServices {
    waitingRooms: WaitingRoomsService;
  }
}

/** Period of the admission loop, ms: admissions and expiries happen within one tick. */
const TICK_MS = 200;
/** The admitter's lease, ms: a dead admitter is replaced within this (renewed every tick). */
const LEASE_MS = 3_000;

/**
 * Virtual waiting rooms: a fair line with computed places, heartbeats, admission by rate and
 * concurrency (one admitter at a time), signed passes, and live positions over SSE. Its routes:
 * the API under /api/v1, and the page people wait on at /wait/:roomId.
 */
export default defineModule({
  name: 'waitingRooms',
  infra: ['postgres', 'redis', 'keys', 'tokens', 'commits', 'locks', 'metrics', 'log'],
  dependsOn: [],
  prefix: '',
  create({ infra }) {
    const repo = new WaitingRoomsRepository(infra.postgres());
    const redis = infra.redis();
    const gate: WaitingRoomGate = redis
      ? new RedisWaitingRoomGate(redis, infra.keys)
      : new MemoryWaitingRoomGate();
    const joins = infra.commits.keyed<NewEntry, boolean>('waiting-room-join', (items) =>
      repo.insertEntries(items),
    );
    const rooms = new WaitingRoomsService(
      repo,
      gate,
      joins,
      new PassSigner(infra.tokens.subkey('waiting-room-pass')),
      infra.locks,
      infra.locks.lease('waiting-rooms:admitter', LEASE_MS),
      infra.metrics,
      infra.log,
      { tickMs: TICK_MS, leaseMs: LEASE_MS },
    );
    const streams = new EntryStreams(rooms, infra.log);
    const page = loadWaitingRoomPage();
    return {
      service: rooms,
      routes: async (app) => {
        await app.register(waitingRoomsRoutes(rooms, streams), { prefix: '/api/v1' });
        await app.register(waitingRoomPageRoutes(page), { prefix: '/wait/:roomId' });
      },
      start: () => rooms.start(),
      async close() {
        await rooms.close();
        await joins.close();
      },
      health: () => ({
        status: 'up',
        detail: `${gate.kind} gate; admitter ${rooms.leader ? 'in this process' : 'in another process'}; ${streams.size} entry streams`,
      }),
    };
  },
});
