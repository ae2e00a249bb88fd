/**
 * Where did the server's CPU go? Summarises a V8 .cpuprofile written by `node --cpu-prof`
 * (bench/coupons.mjs --profile DIR runs the server under test that way).
 *
 *   node bench/cpuprofile-summary.mjs DIR/windows-<pid>.json   one summary per measured run
 *   node bench/cpuprofile-summary.mjs FILE.cpuprofile          the whole profile
 *
 * For each window: self time by package (node_modules/<name>, node internals, our dist/ files,
 * GC, idle) and the top functions by self time. The windows file maps the bench's wall-clock run
 * windows onto the profile, whose clock starts when the process starts (±50 ms).
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

const arg = process.argv[2];
if (!arg) {
  process.stderr.write(
    'usage: node bench/cpuprofile-summary.mjs <windows-PID.json | file.cpuprofile> [top]\n',
  );
  process.exit(2);
}
const TOP = Number(process.argv[3] ?? 25);

let profileFile = arg;
let windows = [{ label: 'whole profile', from: -Infinity, to: Infinity }];
if (arg.endsWith('.json')) {
  const w = JSON.parse(readFileSync(arg, 'utf8'));
  const dir = path.dirname(arg);
  const match = readdirSync(dir).find((f) => f.endsWith('.cpuprofile') && f.includes(`.${w.pid}.`));
  if (!match) throw new Error(`no .cpuprofile for pid ${w.pid} in ${dir}`);
  profileFile = path.join(dir, match);
  // ms since the profile's start ≈ ms since spawn minus the ~40 ms Node takes to boot.
  windows = w.windows.map((x) => ({
    label: x.label,
    from: x.start - w.spawnedAt - 40,
    to: x.end - w.spawnedAt - 40,
  }));
}

const profile = JSON.parse(readFileSync(profileFile, 'utf8'));
const byId = new Map(profile.nodes.map((n) => [n.id, n]));

function where(n) {
  const { url, functionName } = n.callFrame;
  if (functionName === '(garbage collector)') return 'GC';
  if (functionName === '(idle)') return 'idle';
  if (functionName === '(program)') return '(program: native, not attributed)';
  if (!url) return `native ${functionName || '(anonymous)'}`;
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const parts = url.slice(nm + 13).split('/');
    return parts[0].startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0];
  }
  if (url.startsWith('node:')) return `node:${url.slice(5).split('/')[0]}`;
  const d = url.indexOf('/dist/');
  if (d >= 0) return `stampede ${url.slice(d + 6)}`;
  return url;
}

for (const w of windows) {
  const self = new Map();
  const byPkg = new Map();
  let t = 0;
  let total = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    t += profile.timeDeltas[i] / 1000;
    if (t < w.from || t > w.to) continue;
    const dt = profile.timeDeltas[i + 1] !== undefined ? profile.timeDeltas[i + 1] / 1000 : 0;
    const n = byId.get(profile.samples[i]);
    const { functionName, url, lineNumber } = n.callFrame;
    const key = `${functionName || '(anonymous)'} ${url ? `${url.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*\/dist\//, 'dist/')}:${lineNumber + 1}` : ''}`;
    self.set(key, (self.get(key) ?? 0) + dt);
    const pkg = where(n);
    byPkg.set(pkg, (byPkg.get(pkg) ?? 0) + dt);
    total += dt;
  }
  const busy = total - (byPkg.get('idle') ?? 0);
  const pct = (x) => `${((x / busy) * 100).toFixed(1).padStart(5)}%`;
  const out = [
    `\n== ${w.label}: ${(total / 1000).toFixed(1)} s sampled, ${(busy / 1000).toFixed(1)} s busy ==`,
  ];
  out.push('by package (share of busy time):');
  for (const [k, v] of [...byPkg]
    .filter(([k]) => k !== 'idle')
    .sort((a, b) => b[1] - a[1])
    .slice(0, 20)) {
    out.push(`  ${pct(v)}  ${k}`);
  }
  out.push(`top ${TOP} functions by self time:`);
  for (const [k, v] of [...self]
    .filter(([k]) => !k.startsWith('(idle)'))
    .sort((a, b) => b[1] - a[1])
    .slice(0, TOP)) {
    out.push(`  ${pct(v)}  ${k}`);
  }
  process.stdout.write(`${out.join('\n')}\n`);
}
