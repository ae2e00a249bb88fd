/**
 * This process's side of presence: it counts its own sockets per room and user, tells the store
 * only on the edges (first socket subscribed: enter; last one gone: leave), announces each edge so
 * every process's feed of the room re-reads who is online, and beats for all its entries every
 * `beatMs` while it has any (cluster mode: entries expire three beats after their last one).
 *
 * The beat runs whenever this process has subscribed sockets, not as a module background loop:
 * an API replica started with RUN_BACKGROUND=false serves sockets too.
 */
import type { FastifyBaseLogger } from 'fastify';
import type { OnlineUser, PresenceEntry, PresenceStore } from './presence.js';

export class PresenceTracker {
  private readonly local = new Map<string, { entry: PresenceEntry; sockets: number }>();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly store: PresenceStore,
    /** Called after an edge reached the store: tell every process's feed of the room. */
    private readonly announce: (roomId: string) => void,
    private readonly log: FastifyBaseLogger,
    private readonly beatMs: number,
  ) {}

  get kind(): PresenceStore['kind'] {
    return this.store.kind;
  }

  /** Users online in each room, by any process. */
  online(roomIds: readonly string[]): Promise<Map<string, OnlineUser[]>> {
    return this.store.online(roomIds);
  }

  /** One more socket of the user is subscribed to the room. */
  async add(roomId: string, user: OnlineUser): Promise<void> {
    const key = `${roomId}|${user.userId}`;
    const held = this.local.get(key);
    if (held) {
      held.sockets += 1;
      return;
    }
    const entry = { roomId, user: { userId: user.userId, name: user.name } };
    this.local.set(key, { entry, sockets: 1 });
    this.timer ??= setInterval(() => void this.beat(), this.beatMs).unref();
    await this.edge(() => this.store.enter(entry), entry);
  }

  /** One socket of the user is no longer subscribed to the room. */
  async remove(roomId: string, userId: string): Promise<void> {
    const key = `${roomId}|${userId}`;
    const held = this.local.get(key);
    if (!held) return;
    held.sockets -= 1;
    if (held.sockets > 0) return;
    this.local.delete(key);
    if (this.local.size === 0) this.stop();
    await this.edge(() => this.store.leave(held.entry), held.entry);
  }

  /** Renews every entry of this process. */
  async beat(): Promise<void> {
    try {
      await this.store.beat([...this.local.values()].map((h) => h.entry));
    } catch (err) {
      this.log.warn({ err }, 'chat presence beat failed; retried at the next beat');
    }
  }

  /** Takes this process's users out of presence (a drain: they are reconnecting elsewhere). */
  async close(): Promise<void> {
    this.stop();
    const entries = [...this.local.values()].map((h) => h.entry);
    this.local.clear();
    await Promise.all(entries.map((e) => this.edge(() => this.store.leave(e), e)));
  }

  private stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private async edge(write: () => Promise<void>, entry: PresenceEntry): Promise<void> {
    try {
      await write();
    } catch (err) {
      // A missed enter is repaired by the next beat; a missed leave expires with its TTL.
      this.log.warn({ err, roomId: entry.roomId }, 'chat presence not written');
    }
    this.announce(entry.roomId);
  }
}
