/**
 * Who is online in a room: the presence port and its in-process adapter. A user is online in a
 * room while one of their sockets, on any process, is subscribed to it. Each process tells the
 * store about its own sockets only on the edges (first socket of a user in a room: `enter`; last
 * one gone: `leave`); the store answers for every process.
 *
 *   memory  embedded mode: one process, so this process's entries are the whole truth
 *   redis   cluster mode (redis-presence.ts): entries expire unless their process beats, so the
 *           users of a process that died drop out within the TTL
 */

export interface OnlineUser {
  userId: string;
  name: string;
}

export interface PresenceEntry {
  roomId: string;
  user: OnlineUser;
}

export interface PresenceStore {
  readonly kind: 'memory' | 'redis';
  /** This process now has a socket of the user subscribed to the room. */
  enter(entry: PresenceEntry): Promise<void>;
  /** This process no longer has one. */
  leave(entry: PresenceEntry): Promise<void>;
  /** Renews this process's entries (every entry it holds, each beat). */
  beat(entries: readonly PresenceEntry[]): Promise<void>;
  /** Users online in each room (by any process), each once; rooms nobody is in map to []. */
  online(roomIds: readonly string[]): Promise<Map<string, OnlineUser[]>>;
}

export class MemoryPresence implements PresenceStore {
  readonly kind = 'memory';
  private readonly rooms = new Map<string, Map<string, string>>();

  async enter({ roomId, user }: PresenceEntry): Promise<void> {
    let users = this.rooms.get(roomId);
    if (!users) {
      users = new Map();
      this.rooms.set(roomId, users);
    }
    users.set(user.userId, user.name);
  }

  async leave({ roomId, user }: PresenceEntry): Promise<void> {
    const users = this.rooms.get(roomId);
    users?.delete(user.userId);
    if (users?.size === 0) this.rooms.delete(roomId);
  }

  async beat(): Promise<void> {
    // Nothing expires in one process: its sockets leave when they close.
  }

  async online(roomIds: readonly string[]): Promise<Map<string, OnlineUser[]>> {
    return new Map(
      roomIds.map((id) => [id, [...(this.rooms.get(id) ?? [])].map(([userId, name]) => ({ userId, name }))]),
    );
  }
}
