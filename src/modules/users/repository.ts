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

  /**
   * Inserts many users in one statement; returns them in input order. `runTag` marks them as a
   * rehearsal's (migrations/006_run_tags.sql); null for real users.
   */
  async createMany(names: string[], runTag: string | null = null): Promise<UserRow[]> {
    const { rows } = await this.pool.query<UserRow>(
      `INSERT INTO users (name, run_tag)
       SELECT n, $2 FROM unnest($1::text[]) WITH ORDINALITY AS t(n, ord) ORDER BY ord
       RETURNING id::text AS id, name`,
      [names, runTag],
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
