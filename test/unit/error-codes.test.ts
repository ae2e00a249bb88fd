/**
 * docs/errors.md is the clients' list of error codes; `ERRORS` in src/http/errors.ts is what the
 * server answers. This fails as soon as the two disagree: a code added, removed or renumbered on one
 * side only, a title changed in one place, or a code's own section missing or naming another status.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ERRORS } from '../../src/http/errors.js';

const DOC = 'docs/errors.md';
const doc = readFileSync(new URL(`../../${DOC}`, import.meta.url), 'utf8');

/** The lines of the `## <title>` section, up to the next `## ` heading. */
function section(title: string): string[] {
  const lines = doc.split('\n');
  const start = lines.findIndex((l) => l.trim() === `## ${title}`);
  if (start < 0) throw new Error(`${DOC} has no "## ${title}" section`);
  const rest = lines.slice(start + 1);
  const end = rest.findIndex((l) => l.startsWith('## '));
  return end < 0 ? rest : rest.slice(0, end);
}

interface Row {
  code: string;
  status: number;
  title: string;
}

/** Rows of the "All codes" table: | `CODE` | status | title | */
function tableRows(): Row[] {
  const rows: Row[] = [];
  for (const line of section('All codes')) {
    const m = /^\|\s*`([A-Z][A-Z0-9_]*)`\s*\|\s*(\d{3})\s*\|\s*(.*?)\s*\|\s*$/.exec(line);
    if (m) rows.push({ code: m[1], status: Number(m[2]), title: m[3] });
  }
  return rows;
}

/** Headings of the per-code sections: ### `CODE` — status[, with `Retry-After`] */
function headings(): { code: string; status: number }[] {
  const out: { code: string; status: number }[] = [];
  for (const line of section('Each code: when, where, what to do')) {
    if (!line.startsWith('### ')) continue;
    const m = /^### `([A-Z][A-Z0-9_]*)` — (\d{3})\b/.exec(line);
    if (!m) throw new Error(`${DOC}: cannot read the heading "${line}" (expected: ### \`CODE\` — 400)`);
    out.push({ code: m[1], status: Number(m[2]) });
  }
  return out;
}

const defined = Object.entries(ERRORS).map(([code, e]) => ({ code, status: e.status, title: e.title }));
const byCode = <T extends { code: string }>(xs: T[]) => [...xs].sort((a, b) => a.code.localeCompare(b.code));
const duplicates = (codes: string[]) => codes.filter((c, i) => codes.indexOf(c) !== i);

describe('docs/errors.md and ERRORS (src/http/errors.ts)', () => {
  it('the "All codes" table lists exactly the codes of ERRORS, each once, with the same status and title', () => {
    const rows = tableRows();
    expect(rows.length, `no table rows parsed from "## All codes" in ${DOC}`).toBeGreaterThan(0);
    expect(duplicates(rows.map((r) => r.code)), 'codes listed twice').toEqual([]);
    expect(byCode(rows)).toEqual(byCode(defined));
  });

  it('every code has its own section whose heading names the same status, and no section names an unknown code', () => {
    const hs = headings();
    expect(duplicates(hs.map((h) => h.code)), 'codes with two sections').toEqual([]);
    expect(byCode(hs)).toEqual(byCode(defined.map(({ code, status }) => ({ code, status }))));
  });
});
