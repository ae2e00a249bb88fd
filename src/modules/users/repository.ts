import type { Pool } from '../../infra/postgres/pool.js';

export interface UserRow {
  id: string;
  name: string;
}

export class UsersRepository {
  constructor(private readonly pool: Pool) {}

  async create(name: string): Promise<UserRow> {
    const { rows } = await this.pool.query<UserRow>(
      'INSERT INTO users (name) VALUES ($1) RETURNING id::text AS id, name',
      [name],
    );
    return rows[0];
  }

  /** Inserts many users in one statement; returns them in input order. */
  async createMany(names: string[]): Promise<UserRow[]> {
    const { rows } = await this.pool.query<UserRow>(
      `INSERT INTO users (name)
       SELECT n FROM unnest($1::text[]) WITH ORDINALITY AS t(n, ord) ORDER BY ord
       RETURNING id::text AS id, name`,
      [names],
    );
    // RETURNING follows insertion order, which follows ORDER BY ord for a single INSERT ... SELECT.
    return rows;
  }

  async get(id: string): Promise<UserRow | null> {
    const { rows } = await this.pool.query<UserRow>('SELECT id::text AS id, name FROM users WHERE id = $1', [
      id,
    ]);
    return rows[0] ?? null;
  }
}
