/**
 * Where every process's frames meet, for the last hour: in process memory in embedded mode (one
 * process), in one Redis sorted set in cluster mode (score = the frame's second, member = the frame
 * as JSON; appends trim what is older than the hour), so any process serves the merged view.
 */
import type { RedisClient } from '../redis/client.js';
import type { Frame } from './frames.js';

/** Frames are kept this long, ms. */
export const FRAME_RETENTION_MS = 60 * 60_000;

export interface FrameStore {
  readonly kind: 'memory' | 'redis';
  append(frame: Frame): Promise<void>;
  /** Every frame whose second starts in [fromMs, toMs), oldest first. */
  range(fromMs: number, toMs: number): Promise<Frame[]>;
}

export function memoryFrameStore(): FrameStore {
  const frames: Frame[] = [];
  return {
    kind: 'memory',
    async append(frame) {
      frames.push(frame);
      const oldest = frame.at - FRAME_RETENTION_MS;
      let drop = 0;
      while (drop < frames.length && frames[drop].at < oldest) drop++;
      if (drop) frames.splice(0, drop);
    },
    async range(fromMs, toMs) {
      return frames.filter((f) => f.at >= fromMs && f.at < toMs);
    },
  };
}

export function redisFrameStore(redis: RedisClient, key: string): FrameStore {
  return {
    kind: 'redis',
    async append(frame) {
      await redis
        .multi()
        .zadd(key, frame.at, JSON.stringify(frame))
        .zremrangebyscore(key, '-inf', `(${frame.at - FRAME_RETENTION_MS}`)
        .exec();
    },
    async range(fromMs, toMs) {
      const members = await redis.zrangebyscore(key, fromMs, `(${toMs}`);
      return members.map((m) => JSON.parse(m) as Frame);
    },
  };
}
