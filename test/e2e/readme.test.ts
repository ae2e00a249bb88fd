/**
 * The README's curl walk-throughs run as written, and `stampede demo` loads its data, against a
 * fresh embedded server this file starts (`node dist/cli.js serve`, built by `npm run build`).
 *
 * Which blocks run: every ```bash block of each README section (a `## ` heading down to the next
 * one) holding a `<!-- walkthrough` comment, in README order, in one bash session (`set -eo pipefail`,
 * stderr into stdout), so variables set by one block are there for the next. The only edit made to
 * them: the line `B=http://127.0.0.1:3000` points B at this file's server. The working directory
 * holds the server's DATA_DIR as `.data`, so `$(cat .data/admin-token)` reads its admin token.
 *
 * How an answer is compared with the README: the fenced block right after a bash block, if it is
 * ```json or ```text, is that block's output; a bash block without one must print nothing.
 * - json: both sides are read as a sequence of JSON values (one per command, with or without
 *   newlines between them); the sequences have the same length and each pair the same SHAPE: same
 *   keys, same JSON types, arrays of the same length, recursively; the values of `code`, `status`,
 *   `type`, `title` and `mode` must be equal too (they say which answer it was). Ids, tokens,
 *   times and the other values may differ.
 * - text: the same lines once every run of digits is replaced by `N`.
 */
import { execFile, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { projectRoot, type ServerProcess, spawnServer } from '../../src/drill/process.js';

const run = promisify(execFile);
const ROOT = projectRoot();
const CLI = path.join(ROOT, 'dist', 'cli.js');

const has = (tool: string) => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;
const missing = ['bash', 'curl', 'jq'].filter((t) => !has(t));
if (missing.length && process.env.CI === 'true') {
  throw new Error(
    `${missing.join(', ')} missing: the README walk-throughs need bash, curl and jq. Install them (apt-get install -y ${missing.join(' ')}); .ci/run installs jq through scripts/ensure-jq.sh.`,
  );
}
if (missing.length)
  console.warn(`\n!!! ${missing.join(', ')} not installed: the README walk-through test is SKIPPED\n`);

interface Fence {
  lang: string;
  body: string;
}

interface Step {
  /** The section's heading and the block's position in it, for messages. */
  where: string;
  bash: string;
  expected?: Fence;
}

/** The fenced blocks of `markdown`, in order. */
function fences(markdown: string): Fence[] {
  const out: Fence[] = [];
  const re = /^```(\w*)[^\n]*\n([\s\S]*?)^```[ \t]*$/gm;
  for (let m = re.exec(markdown); m; m = re.exec(markdown)) out.push({ lang: m[1], body: m[2] });
  return out;
}

/** The bash blocks of the README's walk-through sections, each with the output block after it. */
function walkthroughSteps(readme: string): { headings: string[]; steps: Step[] } {
  const sections = readme.split(/^(?=## )/m).filter((s) => s.includes('<!-- walkthrough'));
  const headings: string[] = [];
  const steps: Step[] = [];
  for (const section of sections) {
    const heading = section.split('\n')[0].replace(/^## /, '').trim();
    headings.push(heading);
    const blocks = fences(section);
    blocks.forEach((block, i) => {
      if (block.lang !== 'bash') return;
      const next = blocks[i + 1];
      const expected = next && (next.lang === 'json' || next.lang === 'text') ? next : undefined;
      steps.push({ where: `"${heading}", bash block ${steps.length + 1}`, bash: block.body, expected });
    });
  }
  return { headings, steps };
}

/** Consecutive JSON values in `text` (whitespace between them optional). Throws on anything else. */
function jsonValues(text: string): unknown[] {
  const values: unknown[] = [];
  let i = 0;
  const skip = () => {
    while (i < text.length && /\s/.test(text[i])) i++;
  };
  for (skip(); i < text.length; skip()) {
    const start = i;
    if (text[i] === '{' || text[i] === '[') {
      let depth = 0;
      let inString = false;
      for (; i < text.length; i++) {
        const c = text[i];
        if (inString) {
          if (c === '\\') i++;
          else if (c === '"') inString = false;
        } else if (c === '"') inString = true;
        else if (c === '{' || c === '[') depth++;
        else if (c === '}' || c === ']') {
          depth--;
          if (depth === 0) {
            i++;
            break;
          }
        }
      }
    } else {
      while (i < text.length && !/\s/.test(text[i])) i++;
    }
    const chunk = text.slice(start, i);
    try {
      values.push(JSON.parse(chunk));
    } catch {
      throw new Error(`not JSON: ${chunk.slice(0, 300)}`);
    }
  }
  return values;
}

const SAME_VALUE_KEYS = new Set(['code', 'status', 'type', 'title', 'mode']);

function kind(v: unknown): string {
  if (v === null) return 'null';
  return Array.isArray(v) ? 'array' : typeof v;
}

/** Where `actual` differs in shape from `expected` (see the header), as readable lines. */
function shapeDifferences(expected: unknown, actual: unknown, at = '$', key = ''): string[] {
  const ek = kind(expected);
  const ak = kind(actual);
  if (ek !== ak) return [`${at}: expected ${ek}, got ${ak} (${JSON.stringify(actual)?.slice(0, 120)})`];
  if (ek === 'array') {
    const e = expected as unknown[];
    const a = actual as unknown[];
    if (e.length !== a.length) return [`${at}: expected ${e.length} items, got ${a.length}`];
    return e.flatMap((item, i) => shapeDifferences(item, a[i], `${at}[${i}]`));
  }
  if (ek === 'object') {
    const e = expected as Record<string, unknown>;
    const a = actual as Record<string, unknown>;
    const missingKeys = Object.keys(e).filter((k) => !(k in a));
    const extraKeys = Object.keys(a).filter((k) => !(k in e));
    const out: string[] = [];
    if (missingKeys.length) out.push(`${at}: missing ${missingKeys.join(', ')}`);
    if (extraKeys.length) out.push(`${at}: not in the README: ${extraKeys.join(', ')}`);
    for (const k of Object.keys(e)) if (k in a) out.push(...shapeDifferences(e[k], a[k], `${at}.${k}`, k));
    return out;
  }
  if (SAME_VALUE_KEYS.has(key) && expected !== actual)
    return [`${at}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`];
  return [];
}

function textDifferences(expected: string, actual: string): string[] {
  const norm = (s: string) =>
    s
      .split('\n')
      .map((l) => l.trimEnd().replace(/\d+/g, 'N'))
      .filter((l) => l !== '');
  const e = norm(expected);
  const a = norm(actual);
  return JSON.stringify(e) === JSON.stringify(a)
    ? []
    : [`expected lines\n${e.join('\n')}\ngot\n${a.join('\n')}`];
}

/** Runs `script` with bash in `cwd`; stdout and stderr together. Never rejects. */
async function bash(script: string, cwd: string): Promise<{ code: number; output: string }> {
  try {
    const { stdout } = await run('bash', ['-c', `exec 2>&1\nset -eo pipefail\n${script}`], {
      cwd,
      timeout: 60_000,
      maxBuffer: 16 * 1024 * 1024,
    });
    return { code: 0, output: stdout };
  } catch (err) {
    const e = err as { code?: number; stdout?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, output: e.stdout ?? String(err) };
  }
}

/** `node dist/cli.js <args>` in `cwd`, without an inherited ADMIN_TOKEN or DATA_DIR. */
async function cli(args: string[], cwd: string) {
  const env = { ...process.env };
  delete env.ADMIN_TOKEN;
  delete env.DATA_DIR;
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI, ...args], { cwd, env, timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

/** The shell lines the demo prints after "Try next", up to the next blank line. */
function tryNextBlock(output: string): string {
  const lines = output.split('\n');
  const start = lines.findIndex((l) => l.startsWith('Try next'));
  if (start < 0) return '';
  const block: string[] = [];
  for (const line of lines.slice(start + 2)) {
    if (line.trim() === '') break;
    block.push(line.replace(/^ {2}/, ''));
  }
  return block.join('\n');
}

/**
 * Runs the steps' bash blocks in order in one bash session in `cwd`, with B pointed at `url`.
 * `outputs` maps each step that ran to what it printed; `failure` describes the step bash stopped in.
 */
async function runWalkthrough(steps: Step[], url: string, cwd: string) {
  const script = steps
    .map((s, i) => {
      const body = s.bash.replace(/^B=http:\/\/127\.0\.0\.1:3000$/m, `B=${url}`);
      return `printf '\\n@@@step %d@@@\\n' ${i}\n${body}`;
    })
    .join('\n');
  const { code, output } = await bash(script, cwd);
  const parts = output.split(/\n?@@@step (\d+)@@@\n/);
  const outputs = new Map<number, string>();
  for (let i = 1; i < parts.length; i += 2) outputs.set(Number(parts[i]), parts[i + 1] ?? '');
  const ran = Math.max(-1, ...outputs.keys());
  const failure = `bash stopped with code ${code} in ${steps[ran]?.where}:\n${steps[ran]?.bash}\noutput:\n${outputs.get(ran)}`;
  return { code, outputs, failure };
}

/** Per step, the `code` (a problem) or `status` of each JSON answer it printed: which answers they were. */
function answerKinds(steps: Step[], outputs: Map<number, string>): string[] {
  return steps.map((step, i) => {
    if (step.expected?.lang !== 'json') return '-';
    try {
      return jsonValues(outputs.get(i) ?? '')
        .map((v) => {
          const o = (v ?? {}) as Record<string, unknown>;
          return String(o.code ?? o.status ?? 'ok');
        })
        .join(' ');
    } catch (err) {
      return (err as Error).message;
    }
  });
}

const README = readFileSync(path.join(ROOT, 'README.md'), 'utf8');

describe('README walk-throughs and the demo, on a fresh embedded server', () => {
  const work = mkdtempSync(path.join(os.tmpdir(), 'stampede-readme-'));
  // Run as root, the embedded PostgreSQL runs as an unprivileged user that must reach .data/pg.
  chmodSync(work, 0o755);
  let server: ServerProcess;

  beforeAll(async () => {
    if (missing.length) return;
    server = await spawnServer({
      name: 'the README test server',
      env: { DATA_DIR: path.join(work, '.data'), LOG_LEVEL: 'warn', PG_POOL_MAX: '6' },
      stripEnv: ['DATABASE_URL', 'REDIS_URL', 'ADMIN_TOKEN', 'JWT_SECRET', 'REDIS_PREFIX'],
      readyTimeoutMs: 90_000,
    });
  });
  afterAll(async () => {
    await server?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  it('finds the walk-through sections, each bash block with its output', () => {
    const { headings, steps } = walkthroughSteps(README);
    expect(headings).toEqual([
      'A drop with curl (real output)',
      'Points, products and orders with curl (real output)',
      'A waiting room with curl (real output)',
      'Concerts with curl (real output)',
    ]);
    expect(steps.length).toBeGreaterThanOrEqual(10);
    expect(steps.filter((s) => s.expected).length).toBe(steps.length - 2); // only the two setups print nothing
    expect(steps[0].bash).toMatch(/^B=http:\/\/127\.0\.0\.1:3000$/m);
    for (const s of steps) // no machine paths
      expect(`${s.bash}${s.expected?.body ?? ''}`).not.toMatch(/\/(home|root|Users|work|tmp)\//);
  });

  it('compares shapes: other ids and times pass; another key, type, length or code does not', () => {
    const readme = '{"id":"1","at":"2026-01-01T00:00:00Z","items":[{"n":1}],"code":"SOLD_OUT"}';
    const [e] = jsonValues(readme);
    const same = jsonValues('{"id":"7","at":"2027-02-02T00:00:00Z","items":[{"n":9}],"code":"SOLD_OUT"}\n');
    expect(shapeDifferences(e, same[0])).toEqual([]);
    for (const other of [
      '{"id":7,"at":"x","items":[{"n":1}],"code":"SOLD_OUT"}',
      '{"id":"1","at":"x","items":[],"code":"SOLD_OUT"}',
      '{"id":"1","at":"x","items":[{"n":1}],"code":"NOT_OPEN"}',
      '{"id":"1","at":"x","items":[{"n":1}],"code":"SOLD_OUT","extra":true}',
    ])
      expect(shapeDifferences(e, jsonValues(other)[0])).not.toEqual([]);
    expect(jsonValues('{"a":"}{"}{"b":[1,2]}\n[3]')).toEqual([{ a: '}{' }, { b: [1, 2] }, [3]]);
    expect(textDifferences('m{id="1"} 1\n', 'm{id="22"} 3')).toEqual([]);
    expect(textDifferences('m{id="1"} 1\n', 'm{id="1",x="y"} 1')).not.toEqual([]);
  });

  it.skipIf(missing.length > 0)(
    'runs every walk-through block as written; each answer has the shape shown',
    async () => {
      const { steps } = walkthroughSteps(README);
      const { code, outputs, failure } = await runWalkthrough(steps, server.url, work);
      expect(code, failure).toBe(0);
      const problems: string[] = [];
      steps.forEach((step, i) => {
        const actual = outputs.get(i) ?? '';
        let diffs: string[];
        if (!step.expected)
          diffs = actual.trim() ? [`printed, but the README shows no output: ${actual}`] : [];
        else if (step.expected.lang === 'text') diffs = textDifferences(step.expected.body, actual);
        else {
          try {
            const e = jsonValues(step.expected.body);
            const a = jsonValues(actual);
            diffs =
              e.length !== a.length
                ? [`expected ${e.length} JSON answers, got ${a.length}: ${actual}`]
                : e.flatMap((v, j) => shapeDifferences(v, a[j], `answer ${j + 1}`));
          } catch (err) {
            diffs = [(err as Error).message];
          }
        }
        if (diffs.length)
          problems.push(
            `${step.where}:\n${step.bash}\n  ${diffs.join('\n  ')}\nits output:\n${actual.trim()}`,
          );
      });
      expect(problems, problems.join('\n\n')).toEqual([]);
    },
  );

  it.skipIf(missing.length > 0)(
    'runs again on the same data with the same answers (ids are captured, nothing is hard-coded)',
    async () => {
      const { steps } = walkthroughSteps(README);
      const again = await runWalkthrough(steps, server.url, work);
      expect(again.code, again.failure).toBe(0);
      const readmeKinds = answerKinds(
        steps,
        new Map(steps.map((s, i) => [i, s.expected?.lang === 'json' ? s.expected.body : ''])),
      );
      expect(answerKinds(steps, again.outputs)).toEqual(readmeKinds);
    },
  );

  it.skipIf(missing.length > 0)(
    'demo loads named data twice, reading ./.data/admin-token, and what it prints to try next runs',
    async () => {
      const first = await cli(['demo', '--target', server.url], work);
      expect(first.code, first.stderr).toBe(0);
      expect(first.stdout).toContain(`Loaded demo data into ${server.url}`);
      const second = await cli(['demo', '--target', server.url], work);
      expect(second.code, second.stderr).toBe(0);
      const couponId = (out: string) => /^ {2}coupon +(\d+) /m.exec(out)?.[1];
      expect(couponId(first.stdout)).toBeDefined();
      expect(couponId(second.stdout)).not.toBe(couponId(first.stdout)); // new data, not a failure on the old

      const products = (await (await fetch(`${server.url}/api/v1/products?limit=100`)).json()) as {
        items: { id: string; name: string }[];
      };
      const demoProducts = products.items.filter((p) => p.name.startsWith('demo: '));
      expect(demoProducts.length).toBe(8);
      const one = (await (await fetch(`${server.url}/api/v1/products/${demoProducts[0].id}`)).json()) as {
        description: string | null;
      };
      expect(one.description).toBeTruthy();

      const block = tryNextBlock(second.stdout);
      expect(block).toContain(`B=${server.url}`);
      const { code, output } = await bash(block, work);
      expect(code, output).toBe(0);
      const answers = jsonValues(output) as Record<string, unknown>[];
      const what = (a: Record<string, unknown>) =>
        a.code ??
        a.status ??
        (Array.isArray(a.items) ? 'items' : typeof a.remaining === 'number' ? 'coupon' : a);
      expect(answers.map(what)).toEqual(['coupon', 'PAID', 'INSUFFICIENT_POINTS', 'items', 'items']);
      expect(answers[0].name).toBe('demo: Launch week 15% off');
      expect((answers[3].items as { status: string }[]).map((o) => o.status)).toEqual(['PAID']);
    },
  );

  it.skipIf(missing.length > 0)(
    'demo says what to do when there is no server or no admin token',
    async () => {
      const elsewhere = mkdtempSync(path.join(os.tmpdir(), 'stampede-demo-'));
      try {
        const noToken = await cli(['demo', '--target', server.url], elsewhere);
        expect(noToken.code).toBe(1);
        expect(noToken.stderr).toContain(
          'no admin token: .data/admin-token is not there; pass --admin-token',
        );
        const wrong = await cli(
          ['demo', '--target', server.url, '--admin-token', 'stampede_admin_wrong'],
          elsewhere,
        );
        expect(wrong.code).toBe(1);
        expect(wrong.stderr).toContain('refused the admin token');
        await server.stop();
        const down = await cli(['demo', '--target', server.url], work);
        expect(down.code).toBe(1);
        expect(down.stderr).toContain(`no stampede server answers at ${server.url}`);
        expect(`${noToken.stderr}${wrong.stderr}${down.stderr}`).not.toMatch(/^ {4}at /m);
      } finally {
        rmSync(elsewhere, { recursive: true, force: true });
      }
    },
  );
});
