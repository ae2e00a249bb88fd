/**
 * Rehearsal cleanup: a run tag's rows leave PostgreSQL in one transaction (repository.ts says what
 * belongs to a run, what is kept and what is given back), then the waiting-room gates forget the
 * deleted rooms and entries.
 *
 * What is left outside PostgreSQL, on purpose: the coupon gate's state for a deleted coupon (memory
 * or Redis). Ids are never reused, the coupon answers 404 from its next lookup (its cached metadata
 * lives at most 5 s, and an issue that still reaches the gate is refused by PostgreSQL as NOT_FOUND
 * and given back), and the reconciler only visits coupons PostgreSQL still lists. Tokens of deleted
 * users still verify but name nobody: delete a run once it has stopped sending traffic.
 */
import { appError } from '../../http/errors.js';
import type { WaitingRoomsService } from '../waiting-rooms/service.js';
import type { RunDeletion, RunsRepository } from './repository.js';

/** PostgreSQL's answers to a lost lock race (a rehearsal still writing): try the whole run again. */
const RETRYABLE = new Set(['40P01', '40001']);
const ATTEMPTS = 3;

export type RunDeletionAnswer = { runTag: string } & Pick<RunDeletion, 'deleted' | 'returned' | 'kept'>;

export class RunsService {
  constructor(
    private readonly repo: RunsRepository,
    private readonly rooms: Pick<WaitingRoomsService, 'forgetDeleted'>,
  ) {}

  /** Deletes everything the run tag marks; 404 NOT_FOUND when nothing carries it. */
  async delete(runTag: string): Promise<RunDeletionAnswer> {
    let result: RunDeletion | null = null;
    for (let attempt = 1; ; attempt++) {
      try {
        result = await this.repo.deleteRun(runTag);
        break;
      } catch (err) {
        const code = (err as { code?: string }).code;
        if (!code || !RETRYABLE.has(code)) throw err;
        if (attempt === ATTEMPTS)
          throw appError(
            'UNAVAILABLE',
            'the run is still being written to (lock conflicts); nothing was deleted, retry once it has stopped',
            { 'retry-after': '1' },
          );
      }
    }
    if (!result) throw appError('NOT_FOUND', `nothing carries run tag ${runTag}`);
    await this.rooms.forgetDeleted(result.roomIds, result.entries);
    return { runTag, deleted: result.deleted, returned: result.returned, kept: result.kept };
  }
}
