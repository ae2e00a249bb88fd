/**
 * Users and their bearer tokens. A token is signed for every user created (one or in bulk); the
 * bulk path signs synchronously, so 10,000 tokens do not stall the event loop on WebCrypto.
 */
import type { Auth } from '../../infra/tokens.js';
import type { UserRow, UsersRepository } from './repository.js';

export interface UserWithToken extends UserRow {
  token: string;
}

export class UsersService {
  constructor(
    private readonly repo: UsersRepository,
    private readonly tokens: Auth,
  ) {}

  async create(name: string): Promise<UserWithToken> {
    const user = await this.repo.create(name);
    return { ...user, token: await this.tokens.sign(user) };
  }

  /** Creates `count` users named `<prefix>-1` … `<prefix>-<count>`, in that order, tagged with `runTag` if given. */
  async createMany(prefix: string, count: number, runTag: string | null = null): Promise<UserWithToken[]> {
    const names = Array.from({ length: count }, (_, i) => `${prefix}-${i + 1}`);
    const created = await this.repo.createMany(names, runTag);
    const out: UserWithToken[] = [];
    for (let i = 0; i < created.length; i++) {
      // Signing is synchronous: yield every 500 tokens so a 10,000-user bulk never holds the event
      // loop long enough for the overload guard (or other requests) to notice.
      if (i > 0 && i % 500 === 0) await new Promise((r) => setImmediate(r));
      out.push({ ...created[i], token: await this.tokens.sign(created[i]) });
    }
    return out;
  }

  get(id: string): Promise<UserRow | null> {
    return this.repo.get(id);
  }
}
