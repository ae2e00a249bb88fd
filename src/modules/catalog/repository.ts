/**
 * Catalog SQL. Reads here are exact (PostgreSQL); the service puts a ≤ 1 s cache in front of them.
 * Stock is only ever changed by the orders repository, under row locks.
 */
import type { Pool } from '../../infra/postgres/pool.js';

export interface NewProduct {
  name: string;
  price: number;
  stock: number;
  description?: string | null;
  /** The rehearsal that creates it (migrations/006_run_tags.sql); absent or null for a real product. */
  runTag?: string | null;
}

export interface ProductRow {
  id: string;
  name: string;
  price: number;
  stock: number;
  description: string | null;
}

// price is bigint; every price fits a double exactly (CHECK ≤ 1e9), so it is read as a number.
const COLUMNS = 'id::text AS id, name, price::float8 AS price, stock, description';

export class CatalogRepository {
  constructor(private readonly pool: Pool) {}

  async create(p: NewProduct): Promise<ProductRow> {
    const { rows } = await this.pool.query<ProductRow>(
      `INSERT INTO products (name, price, stock, description, run_tag) VALUES ($1, $2, $3, $4, $5) RETURNING ${COLUMNS}`,
      [p.name, p.price, p.stock, p.description ?? null, p.runTag ?? null],
    );
    return rows[0];
  }

  /** One statement for the whole list; ids come back in input order. */
  async createMany(list: NewProduct[]): Promise<string[]> {
    const { rows } = await this.pool.query<{ id: string }>(
      `INSERT INTO products (name, price, stock, description, run_tag)
       SELECT n, p, s, d, r FROM unnest($1::text[], $2::bigint[], $3::int[], $4::text[], $5::text[]) WITH ORDINALITY AS t(n, p, s, d, r, ord)
       ORDER BY ord
       RETURNING id::text AS id`,
      [
        list.map((p) => p.name),
        list.map((p) => p.price),
        list.map((p) => p.stock),
        list.map((p) => p.description ?? null),
        list.map((p) => p.runTag ?? null),
      ],
    );
    // RETURNING follows insertion order, which follows ORDER BY ord for a single INSERT ... SELECT;
    // identity values are handed out in that order too, so sorting by id is a second guarantee.
    return rows.map((r) => r.id).sort((a, b) => (BigInt(a) < BigInt(b) ? -1 : 1));
  }

  async get(id: string): Promise<ProductRow | null> {
    const { rows } = await this.pool.query<ProductRow>(`SELECT ${COLUMNS} FROM products WHERE id = $1`, [id]);
    return rows[0] ?? null;
  }

  async getMany(ids: string[]): Promise<ProductRow[]> {
    const { rows } = await this.pool.query<ProductRow>(
      `SELECT ${COLUMNS} FROM products WHERE id = ANY($1::bigint[])`,
      [ids],
    );
    return rows;
  }

  /** Products in id order after `afterId`; fetches limit+1 so the caller knows if there is more. */
  async page(afterId: string | null, limit: number): Promise<ProductRow[]> {
    const { rows } = await this.pool.query<ProductRow>(
      `SELECT ${COLUMNS} FROM products WHERE id > $1 ORDER BY products.id LIMIT $2`,
      [afterId ?? '0', limit + 1],
    );
    return rows;
  }
}
