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

  /** Creates `count` users named `<prefix>-1` … `<prefix>-<count>`, in that order. */
  async createMany(prefix: string, count: number): Promise<UserWithToken[]> {
    const names = Array.from({ length: count }, (_, i) => `${prefix}-${i + 1}`);
    const created = await this.repo.createMany(names);
    return Promise.all(created.map(async (u) => ({ ...u, token: await this.tokens.sign(u) })));
  }

  get(id: string): Promise<UserRow | null> {
    return this.repo.get(id);
  }
}
