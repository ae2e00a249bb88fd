/**
 * docs/api.md is checked against the served OpenAPI document: every /api operation the server
 * serves has its `### \`METHOD /path\` (access) → status` heading in the reference, with the same
 * access and success status, and every such heading names an operation the server serves. And every
 * error the reference names under an operation (a `| 409 | \`CODE\` |` row, or "`404 NOT_FOUND`" in
 * its text) is one the served document lists for that operation, with that status.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createDatabaseFor,
  startTestServer,
  type TestDatabase,
  type TestServer,
} from '../support/harness.js';

interface Operation {
  security?: Record<string, unknown>[];
  responses?: Record<string, { description?: string }>;
}

/** The (status, code) pairs a section of the reference names: table rows and inline mentions. */
function documentedProblems(section: string[]): [string, string][] {
  const out: [string, string][] = [];
  for (const line of section) {
    const row = /^\| ([45]\d\d) \| (.*?) \|/.exec(line);
    if (row) for (const m of row[2].matchAll(/`([A-Z][A-Z_]+)`/g)) out.push([row[1], m[1]]);
    for (const m of line.matchAll(/`([45]\d\d) ([A-Z][A-Z_]+)`/g)) out.push([m[1], m[2]]);
  }
  return out;
}

const HEADING =
  /^### `(GET|POST|PUT|PATCH|DELETE) (\/api\/[^`?\s]*)(?:\?[^`]*)?` \((public|user|admin)\) → (\d{3})/;

function accessOf(op: Operation): 'public' | 'user' | 'admin' {
  const scheme = Object.keys(op.security?.[0] ?? {})[0];
  return scheme === 'adminToken' ? 'admin' : scheme === 'bearerAuth' ? 'user' : 'public';
}

describe('docs/api.md against the served OpenAPI document', () => {
  let db: TestDatabase;
  let server: TestServer;
  beforeAll(async () => {
    db = await createDatabaseFor('embedded');
    server = await startTestServer(db);
  });
  afterAll(async () => {
    await server?.close();
    await db?.drop();
  });

  it('documents exactly the served /api operations, with their access and success status', async () => {
    const res = await server.app.inject({ method: 'GET', url: '/docs/json' });
    expect(res.statusCode).toBe(200);
    const paths = res.json().paths as Record<string, Record<string, Operation>>;
    const served = new Map<string, string>();
    for (const [p, ops] of Object.entries(paths)) {
      if (!p.startsWith('/api/')) continue;
      for (const [method, op] of Object.entries(ops)) {
        // An operation with several success answers (join: 201 new, 200 existing) is documented by one.
        const ok = Object.keys(op.responses ?? {}).filter((s) => /^2\d\d$/.test(s));
        served.set(
          `${method.toUpperCase()} ${p.replace(/\{(\w+)\}/g, ':$1')}`,
          `${accessOf(op)} ${ok.length ? ok : ['200']}`,
        );
      }
    }
    const documented = new Map<string, string>();
    for (const line of readFileSync('docs/api.md', 'utf8').split('\n')) {
      const m = HEADING.exec(line);
      if (m) documented.set(`${m[1]} ${m[2]}`, `${m[3]} ${m[4]}`);
    }

    // A documented success status must be one the operation answers.
    for (const [op, doc] of documented) {
      const [access, status] = doc.split(' ');
      const [servedAccess, statuses] = (served.get(op) ?? ' ').split(' ');
      if (access === servedAccess && statuses.split(',').includes(status)) served.set(op, doc);
    }
    expect(served.size).toBeGreaterThan(10);
    expect(Object.fromEntries([...documented].sort())).toEqual(Object.fromEntries([...served].sort()));
  });

  it('names, under each operation, only errors the served document lists for it with that status', async () => {
    const res = await server.app.inject({ method: 'GET', url: '/docs/json' });
    const paths = res.json().paths as Record<string, Record<string, Operation>>;
    const lines = readFileSync('docs/api.md', 'utf8').split('\n');
    const wrong: string[] = [];
    let checked = 0;
    for (let i = 0; i < lines.length; i++) {
      const m = HEADING.exec(lines[i]);
      if (!m) continue;
      let end = i + 1;
      while (end < lines.length && !/^#{2,3} /.test(lines[end])) end++;
      const openApiPath = m[2].replace(/:(\w+)/g, '{$1}');
      const op = paths[openApiPath]?.[m[1].toLowerCase()];
      for (const [status, code] of documentedProblems(lines.slice(i + 1, end))) {
        checked++;
        const description = op?.responses?.[status]?.description ?? '';
        // A route still declaring the 4xx/5xx catch-all (ProblemResponses) documents any problem.
        const catchAll = op?.responses?.[`${status[0]}XX`] !== undefined;
        if (!catchAll && !description.includes(`\`${code}\``))
          wrong.push(`${m[1]} ${m[2]}: ${status} ${code}`);
      }
    }
    expect(checked).toBeGreaterThan(15);
    expect(wrong).toEqual([]);
  });
});
