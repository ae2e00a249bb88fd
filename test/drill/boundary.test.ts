/**
 * The drill stands on its own: no file under src/drill imports anything outside src/drill (a
 * relative path that leaves the folder, an absolute path, or the package itself). Packages from
 * node_modules and node: built-ins are fine. Static imports, re-exports, `import type` and dynamic
 * `import('…')` all count; TypeScript's own pre-processor finds them.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const DRILL = fileURLToPath(new URL('../../src/drill', import.meta.url));

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(p);
    return /\.(c|m)?tsx?$/.test(e.name) ? [p] : [];
  });
}

/** The specifiers of `source` (a file at `file`) that point outside `root`. */
function escapes(root: string, file: string, source: string): string[] {
  const { importedFiles } = ts.preProcessFile(source, true, true);
  return importedFiles
    .map((f) => f.fileName)
    .filter((spec) => {
      if (spec === 'stampede' || spec.startsWith('stampede/')) return true;
      if (path.isAbsolute(spec) || spec.startsWith('file:')) return true;
      if (!spec.startsWith('.')) return false;
      const rel = path.relative(root, path.resolve(path.dirname(file), spec));
      return rel.startsWith('..') || path.isAbsolute(rel);
    });
}

describe('the drill boundary', () => {
  it('src/drill imports nothing outside src/drill', () => {
    const files = sourceFiles(DRILL);
    expect(files.length).toBeGreaterThan(10);
    const outside = files.flatMap((f) =>
      escapes(DRILL, f, readFileSync(f, 'utf8')).map((spec) => `${path.relative(DRILL, f)} → ${spec}`),
    );
    expect(outside).toEqual([]);
  });

  it('the check sees every kind of import that leaves the folder', () => {
    const file = path.join(DRILL, 'scenarios', 'x.ts');
    const source = [
      "import { a } from '../audit.js';",
      "import { freePort } from '../../infra/net.js';",
      "import type { T } from '../../app.js';",
      "export { b } from '../../runtime.js';",
      "const m = await import('../../modules/coupons/service.js');",
      "import 'stampede/dist/cli.js';",
      "import pg from 'pg';",
      "import os from 'node:os';",
    ].join('\n');
    expect(escapes(DRILL, file, source)).toEqual([
      '../../infra/net.js',
      '../../app.js',
      '../../runtime.js',
      '../../modules/coupons/service.js',
      'stampede/dist/cli.js',
    ]);
  });
});
