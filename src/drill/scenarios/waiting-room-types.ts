/**
 * What a waiting-room run observes, shared by the scenario (which records it) and its audit (which
 * judges the server against it).
 */
import type { DrillUsers } from './users.js';

/** The room's limits as the drill created it. */
export interface RoomLimits {
  maxActive: number;
  admitPerSecond: number;
  passTtlSeconds: number;
  idleTimeoutSeconds: number;
}

/** `active` and `waiting` as GET /api/v1/waiting-rooms/:id answered during the run. */
export interface RoomSamples {
  count: number;
  maxActive: number;
  maxWaiting: number;
  /** Samples with active above the room's maxActive, and the first of them. */
  over: number;
  firstOver: string;
}

/** What the drill saw per user; indexes are user positions in `users`. */
export interface RoomObservations {
  users: DrillUsers;
  roomId: string;
  couponId: string;
  quantity: number;
  limits: RoomLimits;
  /** A user who never joins: the audit's pass-less probe. */
  probe: { id: string; token: string };
  /** 1 once an iteration took this user (each user joins once). */
  taken: Uint8Array;
  /** 1 when a join answered 201 or 200. */
  joined: Uint8Array;
  /** 1 when a read (or the join) answered ADMITTED with a pass. */
  admitted: Uint8Array;
  /** Number of 201 answers to issue. */
  issued: Uint16Array;
  /** 1 when an issue ended without knowing whether it issued (timeout, network, 5xx ≠ 503). */
  ambiguous: Uint8Array;
  /** 1 when the user's entry answered EXPIRED or DONE while the user was still waiting. */
  lost: Uint8Array;
  /** The pass of one user who issued, for the used-pass probe; null until someone issued. */
  usedPass: { user: number; pass: string } | null;
  samples: RoomSamples;
  /** performance.now() of the last room sample (one sample per SAMPLE_MS across all VUs). */
  lastSampleAt: number;
}
