/**
 * Creates a run's users through POST /api/v1/admin/users/bulk, at most 10,000 per call, tagged with
 * the run's tag when one is given (a drill always gives one; benchmarks do not).
 */
import type { ApiClient } from '../api-client.js';
import { asArray, asObject, str } from '../shape.js';

export const BULK_MAX = 10_000;

export interface DrillUsers {
  ids: string[];
  tokens: string[];
}

export async function createUsers(
  api: ApiClient,
  adminToken: string,
  count: number,
  namePrefix: string,
  log: (m: string) => void,
  runTag?: string,
): Promise<DrillUsers> {
  const ids: string[] = [];
  const tokens: string[] = [];
  while (ids.length < count) {
    const n = Math.min(BULK_MAX, count - ids.length);
    const json = await api.must('POST', '/api/v1/admin/users/bulk', 201, {
      token: adminToken,
      body: { count: n, namePrefix: `${namePrefix}-${ids.length}`, ...(runTag ? { runTag } : {}) },
    });
    const users = asArray(asObject(json, 'bulk users').users, 'bulk users.users');
    for (const u of users) {
      const o = asObject(u, 'user');
      ids.push(str(o, 'id', 'user'));
      tokens.push(str(o, 'token', 'user'));
    }
    if (count > BULK_MAX) log(`  users: ${ids.length}/${count}`);
  }
  return { ids, tokens };
}
