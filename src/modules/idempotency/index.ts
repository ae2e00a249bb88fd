import { defineModule } from '../../kernel/module.js';
import { IdempotencyRepository } from './repository.js';
import { IdempotencyService } from './service.js';

declare module '../../kernel/module.js' {
  interface ModuleServices {
    idempotency: IdempotencyService;
  }
}

/** Keys are kept at least 24 h; the janitor purges those older than 48 h once an hour. */
const JANITOR_MS = 3_600_000;

/** Idempotency-Key semantics for every write that takes the header. No routes of its own. */
export default defineModule({
  name: 'idempotency',
  infra: ['postgres', 'metrics', 'log'],
  dependsOn: [],
  create({ infra }) {
    const idempotency = new IdempotencyService(new IdempotencyRepository(infra.postgres()), infra.metrics);
    let janitor: NodeJS.Timeout | null = null;
    return {
      service: idempotency,
      start() {
        janitor = setInterval(() => {
          idempotency.purge().catch((err) => infra.log.warn({ err }, 'idempotency janitor pass failed'));
        }, JANITOR_MS);
        janitor.unref();
      },
      async close() {
        if (janitor) clearInterval(janitor);
      },
    };
  },
});
