/**
 * Every Lua script in src/infra/redis/lua/ against the command it is registered as. Generic over
 * the folder: a script added, renamed or removed is checked without editing this file.
 *
 * For each `<name>-<numberOfKeys>.lua`: the file name is well formed (the loader silently skips
 * names it cannot read); the header comment declares exactly KEYS[1..N]; the body uses no KEYS[i]
 * beyond N (ioredis passes only N keys; a KEYS[N+1] would read an argument); `loadScripts` registers
 * the command; the `ScriptCommands` interface of client.ts names every script and nothing else.
 * Against the real Redis: each script compiles (SCRIPT LOAD, same SHA as the file) and runs once
 * through its registered command on keys under a private prefix, which are deleted afterwards.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { loadScripts, type RedisClient } from '../../src/infra/redis/client.js';
import { deletePrefix } from '../support/redis.js';

const LUA_DIR = new URL('../../src/infra/redis/lua/', import.meta.url);
const CLIENT_TS = new URL('../../src/infra/redis/client.ts', import.meta.url);
const FILE_NAME = /^[a-z][A-Za-z0-9]*-\d+\.lua$/;

interface Script {
  file: string;
  name: string;
  keys: number;
  source: string;
  header: string;
  body: string;
}

/** `--[[ ... ]]` at the top of the file (the header), and the code after it with comments removed. */
function split(source: string): { header: string; body: string } {
  const m = /^\s*--\[(=*)\[([\s\S]*?)\]\1\]/.exec(source);
  const header = m ? m[2] : '';
  const rest = m ? source.slice(m[0].length) : source;
  const body = rest.replace(/--\[(=*)\[[\s\S]*?\]\1\]/g, '').replace(/--[^\n]*/g, '');
  return { header, body };
}

const files = readdirSync(LUA_DIR)
  .filter((f) => f.endsWith('.lua'))
  .sort();
const scripts: Script[] = files.map((file) => {
  const source = readFileSync(new URL(file, LUA_DIR), 'utf8');
  const [, name = file, keys = '-1'] = /^(.*)-(\d+)\.lua$/.exec(file) ?? [];
  return { file, name, keys: Number(keys), source, ...split(source) };
});

/** Indices i of the header lines that declare a key: lines starting with `KEYS[i]`. */
const declaredKeys = (header: string) =>
  [...header.matchAll(/^[ \t]*KEYS\[(\d+)\]/gm)].map((m) => Number(m[1]));

/** Every literal index i of `KEYS[i]` in the code. */
const usedKeys = (body: string) => [...body.matchAll(/KEYS\s*\[\s*(\d+)\s*\]/g)].map((m) => Number(m[1]));

/** Member names of `interface ScriptCommands` in client.ts, read with the TypeScript parser. */
function scriptCommandNames(): string[] {
  const text = readFileSync(CLIENT_TS, 'utf8');
  const sf = ts.createSourceFile('client.ts', text, ts.ScriptTarget.ES2022, true);
  const decl = sf.statements.find(
    (s): s is ts.InterfaceDeclaration => ts.isInterfaceDeclaration(s) && s.name.text === 'ScriptCommands',
  );
  if (!decl) throw new Error('src/infra/redis/client.ts declares no interface ScriptCommands');
  return decl.members.map((m) => (m.name ? m.name.getText(sf) : '?'));
}

const sorted = (xs: string[]) => [...xs].sort();
const range = (n: number) => Array.from({ length: n }, (_, i) => i + 1);

describe('Lua scripts (src/infra/redis/lua) and their registered commands', () => {
  it('the folder holds scripts', () => {
    expect(files.length).toBeGreaterThan(0);
  });

  describe.each(scripts.map((s) => [s.file, s] as const))('%s', (_file, s) => {
    it('is named <name>-<numberOfKeys>.lua with a camelCase name', () => {
      expect(s.file).toMatch(FILE_NAME);
    });

    it('opens with a comment block declaring exactly KEYS[1..N], N from the file name, and what it returns', () => {
      expect(s.header, 'no --[[ ... ]] comment block at the top').not.toBe('');
      expect(declaredKeys(s.header)).toEqual(range(s.keys));
      expect(s.header).toMatch(/\bReturns?\b/);
    });

    it('uses no KEYS[i] beyond N in its code', () => {
      const beyond = usedKeys(s.body).filter((i) => i < 1 || i > s.keys);
      expect(beyond, `KEYS indices outside 1..${s.keys}`).toEqual([]);
    });
  });

  it('loadScripts registers a command for every script', () => {
    const redis = new Redis({ lazyConnect: true });
    try {
      const client = loadScripts(redis) as unknown as Record<string, unknown>;
      const missing = scripts.filter((s) => typeof client[s.name] !== 'function').map((s) => s.name);
      expect(missing).toEqual([]);
    } finally {
      redis.disconnect();
    }
  });

  it('the ScriptCommands interface of client.ts names every script and no other', () => {
    expect(sorted(scriptCommandNames())).toEqual(sorted(scripts.map((s) => s.name)));
  });
});

const redisAvailable = inject('redisAvailable');
const redisUrl = inject('redisUrl');
if (!redisAvailable && process.env.CI !== 'true') {
  console.warn(
    `\n!!! Redis not reachable at ${redisUrl}: the Lua scripts are not run against Redis (SKIPPED)\n`,
  );
}

describe('Lua scripts against Redis', () => {
  it.runIf(process.env.CI === 'true')('Redis is reachable (CI runs the Redis-backed checks)', () => {
    expect(redisAvailable, `Redis is not reachable at ${redisUrl}`).toBe(true);
  });

  describe.skipIf(!redisAvailable)('on a private key prefix', () => {
    // One hash tag for all keys of a call, as in production (one Redis Cluster slot per script call).
    const prefix = `test:lua:${randomBytes(6).toString('hex')}:`;
    let redis: Redis;
    let client: RedisClient;

    beforeAll(async () => {
      redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null });
      client = loadScripts(redis);
      await redis.connect();
    });
    afterAll(async () => {
      redis?.disconnect();
      await deletePrefix(redisUrl, prefix);
    });

    it.each(scripts.map((s) => [s.file, s] as const))(
      '%s compiles (SCRIPT LOAD gives the SHA of the file)',
      async (_f, s) => {
        const sha = await redis.script('LOAD', s.source);
        expect(sha).toBe(createHash('sha1').update(s.source).digest('hex'));
      },
    );

    // A smoke run: every script takes ids, counts or times, so "1" is a valid value of each argument.
    it.each(scripts.map((s) => [s.file, s] as const))(
      '%s runs through its registered command',
      async (_f, s) => {
        const keys = range(s.keys).map((i) => `${prefix}{x}:${s.name}:k${i}`);
        const command = (client as unknown as Record<string, (...a: string[]) => Promise<unknown>>)[s.name];
        expect(typeof command, `${s.name} is not a command of the client`).toBe('function');
        await expect(command.call(client, ...keys, '1', '1', '1', '1')).resolves.toBeDefined();
      },
    );
  });
});
