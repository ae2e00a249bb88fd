import { within } from '../../infra/timing.js';
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
/** Pub/sub channel of admissions: `{ roomId, userIds }`, published by the admitter. */
const ADMITTED_CHANNEL = 'waiting-rooms:admitted';

interface AdmittedMessage {
  roomId: string;
  userIds: string[];
}

function admittedMessage(text: string): AdmittedMessage | null {
  try {
    const m = JSON.parse(text) as Partial<AdmittedMessage>;
    if (typeof m.roomId !== 'string' || !Array.isArray(m.userIds)) return null;
    return { roomId: m.roomId, userIds: m.userIds.filter((u): u is string => typeof u === 'string') };
  } catch {
    return null;
  }
}

/** How long the start waits for the admissions channel's SUBSCRIBE to take effect, ms. */
const SUBSCRIBE_WAIT_MS = 3_000;

/**
 * Virtual waiting rooms: a fair line with computed places, heartbeats, admission by rate and
 * concurrency (one admitter at a time), signed passes, and live positions over SSE. Its routes:
 * the API under /api/v1, and the page people wait on at /wait/:roomId.
 */
export default defineModule({
  name: 'waitingRooms',
  infra: ['postgres', 'redis', 'pubsub', 'keys', 'tokens', 'commits', 'locks', 'metrics', 'log', 'config'],
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
    const streams = new EntryStreams(rooms, infra.log, infra.config.waitingRoomStreamPumpMs);
    // Admissions reach the streams of every process through pub/sub (in-process in embedded mode).
    const pubsub = infra.pubsub();
    rooms.onAdmitted((roomId, userIds) => {
      const message: AdmittedMessage = { roomId, userIds };
      pubsub.publish(ADMITTED_CHANNEL, JSON.stringify(message)).catch((err) => {
        infra.log.warn({ err, roomId }, 'admissions not published; entry streams get them at the next pump');
      });
    });
    let subscribed: Promise<(() => Promise<void>) | null> | null = null;
    const page = loadWaitingRoomPage();
    return {
      service: rooms,
      routes: async (app) => {
        await app.register(waitingRoomsRoutes(rooms, streams), { prefix: '/api/v1' });
        await app.register(waitingRoomPageRoutes(page), { prefix: '/wait/:roomId' });
      },
      async start() {
        // Awaited for at most SUBSCRIBE_WAIT_MS: a process that says it is ready gets pushed
        // admissions from then on (a message published before SUBSCRIBE took effect is lost), yet a
        // Redis still connecting does not hold the start for long (the pump covers until then).
        subscribed = pubsub
          .subscribe(ADMITTED_CHANNEL, (text) => {
            const m = admittedMessage(text);
            if (m) streams.admitted(m.roomId, m.userIds);
          })
          .catch((err) => {
            infra.log.warn({ err }, 'admissions channel not subscribed; entry streams rely on the pump');
            return null;
          });
        await within(subscribed, SUBSCRIBE_WAIT_MS);
        await rooms.start();
      },
      async close() {
        // A subscription still pending (Redis down) is dropped with the subscriber connection by infra.
        const unsubscribe = subscribed && (await within(subscribed, 1_000));
        await unsubscribe?.();
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
