// Runs after tsc in `npm run build`: copies non-TypeScript runtime assets (Lua scripts, static pages)
// next to the compiled JS, and makes the CLI executable.
import { chmodSync, cpSync, existsSync, rmSync } from 'node:fs';

const assets = [
  ['src/infra/redis/lua', 'dist/infra/redis/lua'],
  // Static pages (the waiting room's /wait/:roomId), read from dist/web by the compiled server.
  ['web', 'dist/web'],
];
for (const [from, to] of assets) {
  // Replace, not merge: a renamed or deleted script must not linger in dist/ (the loader registers
  // every file it finds there).
  rmSync(to, { recursive: true, force: true });
  if (existsSync(from)) cpSync(from, to, { recursive: true });
}

// tsc writes dist/cli.js as 0644. npm sets the bit on a package's `bin` when it links it, but not
// when `npm ci` builds this very folder (prepare), so `npx stampede` in a clone got "Permission
// denied" once npx had cached the folder. The file starts with `#!/usr/bin/env node`.
const cli = 'dist/cli.js';
if (existsSync(cli)) chmodSync(cli, 0o755);
