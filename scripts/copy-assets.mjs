// Copies non-TypeScript runtime assets (Lua scripts, static pages) next to the compiled JS.
import { cpSync, existsSync } from 'node:fs';

const assets = [['src/infra/redis/lua', 'dist/infra/redis/lua']];
for (const [from, to] of assets) {
  if (existsSync(from)) cpSync(from, to, { recursive: true });
}
