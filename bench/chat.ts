/**
 * Chat benchmark: WebSocket connections held, and message fan-out. Importing this module does
 * nothing; `npm run bench:chat` builds it and runs main().
 */
import { randomBytes } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { setTimeout as sleepMs } from 'node:timers/promises';
import type { Histogram } from 'hdr-histogram-js';
import type { ApiClient } from '../src/drill/api-client.js';
import { withDatabase } from '../src/drill/audit-queries.js';
import { microsecondHistogram } from '../src/drill/metrics.js';
import { serverEntry } from '../src/drill/process.js';
import { createUsers } from '../src/drill/scenarios/users.js';
import { asObject, str } from '../src/drill/shape.js';
import { type ChatFrame, type ChatSocket, type ChatSocketSet, openChatSockets } from './lib/chat-sockets.js';
import { type CpuScope, type CpuSnapshot, type CpuSplit, cpuDelta, cpuSnapshot } from './lib/cpu.js';
import { fmt, type Machine, machine, ms, paddedTable } from './lib/format.js';
import { runLoad } from './lib/load.js';
import { type BenchOptions, parseBenchArgs } from './lib/options.js';
import { fdLimit, percentile, rssMiB } from './lib/process-stats.js';
import { BenchUsageError, type Cleanups, isMain, log, runBench } from './lib/run.js';
import { scrape } from './lib/server-metrics.js';
import {
  type ServerUnderTest,
  startBareServer,
  withServerPairUnderTest,
  withServerUnderTest,
} from './lib/servers.js';

export const USAGE = `Chat benchmark: npm run bench:chat [-- --sockets 15000 --quick]

One run on this machine, the drill's spawner for the servers and a lean client on the \`ws\`
package (no compression) holding every socket from this one process:
  bare      bench/bare-chat-server.mjs: Fastify + @fastify/websocket answering the chat frames with
            nothing behind them (subscribe → subscribed, send → the room's next seq, a message frame
            of the real shape and size to every subscriber, an ack): the ceiling for "WebSocket on
            Node on this box"; measured again right before each server mode, holding as many sockets
  embedded  \`node dist/cli.js serve\` with a fresh DATA_DIR (embedded PostgreSQL, in-process pub/sub)
  cluster   two \`serve\` processes with DATABASE_URL (one fresh database, dropped at the end) and
            REDIS_URL (one random key prefix, deleted at the end); socket i goes to process i mod 2,
            so every room has members on both and its fan-out crosses Redis pub/sub

The sockets (--sockets, one user each, each a member of one room and subscribed to it):
  --big-room members in one room, --rooms rooms of --room-size members, the rest in rooms of
  --room-size that only listen. Figures per mode:
  connect + subscribe  every socket opens (200 at a time) and subscribes: sockets per second, and
                       connect → \`subscribed\` frame p50/p95/p99
  connections held     how many are still open after --duration seconds of holding them; the
                       server's RSS and CPU while it holds them (no traffic but its pings)
  fan-out, 1 room      members of the big room send \`send\` frames at --big-rate messages/s for
                       --duration seconds (after 2 s, --quick: 1 s, that are not timed): the time
                       from a \`send\` frame to the LAST member's \`message\` frame of it, p50/p95/p99;
                       the rate at which messages reached every member
  fan-out, N rooms     the same over the --rooms rooms at --spread-rate messages/s in all
After each fan-out the audit: every subscribed socket of the rooms got every message of its room
exactly once and in seq order (from its \`subscribed\` lastSeq to the room's last seq, no gap, no
duplicate), the acks are the seqs after the run's start one by one, and PostgreSQL's last_seq of
each room is the last one acked. A run that loses a message fails (exit code 1).

Options:
  --sockets N         sockets to hold (default 15000; --quick: 2000), capped below \`ulimit -n\`
  --big-room N        members of the one big room (default 1000; --quick: 1000)
  --rooms N           rooms of the spread fan-out (default 100; --quick: 20)
  --room-size N       members of each of those rooms (default 100; --quick: 50)
  --big-rate N        messages per second offered to the big room (default 20; --quick: 10)
  --spread-rate N     messages per second offered over the spread rooms (default 200; --quick: 50)
  --connections N     concurrent HTTP connections of the setup (room joins; default 50)
  --duration S        seconds of holding and of each timed fan-out (default 10; --quick: 3)
  --quick             small numbers and short runs, for a smoke check
  --modes LIST        comma list of bare,embedded,cluster (default all three; bare always runs)
  --server-env LIST   extra env for the server under test
  --profile DIR       run the server under test with \`node --cpu-prof --cpu-prof-dir=DIR\`
  --server-root DIR   run DIR/dist/cli.js (a built worktree of an older commit) as the server under test
  --json FILE         also write every figure as JSON
  -h, --help          this text
Env: BENCH_PG_URL, BENCH_REDIS_URL as for bench:coupons. The server runs with
CHAT_MESSAGES_PER_MINUTE=1000000000 (a few senders carry the whole offered rate) unless
--server-env sets it. Each socket is a file descriptor in this process and in the server: raise
\`ulimit -n\` in the shell that starts the benchmark (the servers inherit it). Traffic goes to
127.0.0.1 only; every run is bounded in time and count, and every socket is closed at the end.
`;

const SERVER_ENV = { CHAT_MESSAGES_PER_MINUTE: '1000000000' };
/** Sockets being opened at once. */
const OPEN_CONCURRENCY = 200;
const OPEN_DEADLINE_MS = 180_000;
/** File descriptors kept free for everything else (this process's HTTP, PostgreSQL, logs). */
const FD_MARGIN = 1_000;
/** Members of a room that take turns sending its messages. */
const SENDERS_PER_ROOM = 10;
/** After the last send, the messages still on their way get this long, ms. */
const DRAIN_MS = 15_000;
/** The sender loop's tick, ms: each tick sends what the offered rate owes so far. */
const TICK_MS = 5;
/** A message text of an ordinary chat line's length (~60 characters). */
const TEXT = 'doors open in 5 minutes, merch stand is left of the main stage';
const LATENCY_TARGET_P99_MS = 250;

// ---- sizes and room layout ----------------------------------------------------------------------

interface Sizes {
  sockets: number;
  bigRoom: number;
  rooms: number;
  roomSize: number;
  bigRate: number;
  spreadRate: number;
}

/**
 * Room slots: 0 is the big room (sockets 0..bigRoom-1), 1..rooms the spread rooms (roomSize
 * sockets each, in order), then listening rooms of roomSize for the rest.
 */
class Layout {
  readonly slots: number;
  constructor(readonly s: Sizes) {
    this.slots =
      1 + s.rooms + Math.ceil(Math.max(0, s.sockets - s.bigRoom - s.rooms * s.roomSize) / s.roomSize);
  }
  slotOf(socket: number): number {
    const { bigRoom, roomSize } = this.s;
    if (socket < bigRoom) return 0;
    return 1 + Math.floor((socket - bigRoom) / roomSize);
  }
  spreadSlots(): number[] {
    return Array.from({ length: this.s.rooms }, (_, i) => 1 + i);
  }
}

// ---- machine facts ------------------------------------------------------------------------------

// ---- the target of one mode ---------------------------------------------------------------------

/** What one mode's runs talk to: one process (bare, embedded) or two (cluster). */
interface Target {
  mode: string;
  /** Socket i goes to ports[i % ports.length]. */
  ports: number[];
  pids: number[];
  /** Room id per layout slot. */
  roomIds: string[];
  /** Token per socket. */
  tokens: string[];
  /** Server base URLs with /metrics (none for bare). */
  metricsBases: string[];
  scopes: CpuScope[];
  /** Each room's last_seq in PostgreSQL (none for bare). */
  lastSeqs?(roomIds: readonly string[]): Promise<Map<string, number>>;
}

/** CPU of every process of the target: the servers' ticks summed, the rest counted once. */
function snapshotAll(t: Target): CpuSnapshot[] {
  return t.scopes.map((s) => cpuSnapshot(s));
}

function deltaAll(a: readonly CpuSnapshot[], b: readonly CpuSnapshot[], seconds: number): CpuSplit {
  const parts = a.map((x, i) => cpuDelta(x, b[i], seconds));
  const first = parts[0];
  const server = parts.reduce((n, p) => n + p.server, 0);
  return {
    ...first,
    server,
    other: Math.max(0, first.machine - server - first.postgres - first.redis - first.loadgen - first.softirq),
  };
}

function rssAll(t: Target): number {
  return t.pids.reduce((n, pid) => n + rssMiB(pid), 0);
}

// ---- rows and audits ----------------------------------------------------------------------------

type RowKey = 'connect' | 'held' | 'big' | 'spread';

export interface ChatAudit {
  ok: boolean;
  text: string;
}

export interface Row {
  key: RowKey;
  scenario: string;
  mode: string;
  throughput: string;
  /** Numeric throughput for the ratio. */
  value: number;
  p50: number;
  p95: number;
  p99: number;
  /** The bare run right before this mode. */
  bare?: Row;
  rssMiB: number;
  cpu: CpuSplit;
  audit?: ChatAudit;
  notes: string[];
}

// ---- fan-out ------------------------------------------------------------------------------------

interface Pending {
  t0: number;
  /** Receivers that have not had it yet. */
  left: number;
  timed: boolean;
}

interface FanoutRun {
  sent: number;
  timedSent: number;
  acked: number;
  refused: Record<string, number>;
  /** Timed messages that reached every receiver. */
  complete: number;
  /** Messages some receiver never got (within DRAIN_MS of the last send). */
  incomplete: number;
  /** Seconds from the first timed send to the last timed completion. */
  seconds: number;
  receivers: number;
  rooms: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  ackP50: number;
  ackP99: number;
  cpu: CpuSplit;
  rss: number;
  audit: ChatAudit;
}

type FrameHook = (s: ChatSocket, f: ChatFrame, at: number) => void;

/**
 * Sends at `rate` messages/s over `slots` for `warmup` + `seconds` seconds (the warm-up's messages
 * are not timed but are audited), waits for the last ones, then audits the rooms.
 */
async function fanout(
  t: Target,
  set: ChatSocketSet,
  hook: { fn: FrameHook | null },
  slots: readonly number[],
  rate: number,
  warmup: number,
  seconds: number,
  label: string,
): Promise<FanoutRun> {
  const tag = `${label.replace(/\W+/g, '-')}-${randomBytes(3).toString('hex')}`;
  const rooms = slots.map((slot) => {
    const roomId = t.roomIds[slot];
    const members = set.sockets.filter((s) => s.roomId === roomId && s.subscribed);
    return {
      roomId,
      members,
      senders: members.slice(0, SENDERS_PER_ROOM),
      /** The room's seq before this run, as its sockets saw it. */
      base: members.reduce((n, s) => Math.max(n, s.last), 0),
      acks: [] as number[],
    };
  });
  const pending = new Map<string, Pending>();
  const hist: Histogram = microsecondHistogram();
  const ackHist: Histogram = microsecondHistogram();
  const sentAt = new Map<string, number>();
  const refused: Record<string, number> = {};
  let acked = 0;
  let complete = 0;
  let lastCompleteAt = 0;
  hook.fn = (_s, f, at) => {
    const id = f.clientMsgId;
    if (id === undefined) return;
    if (f.type === 'message') {
      const p = pending.get(id);
      if (!p) return;
      p.left--;
      if (p.left > 0) return;
      pending.delete(id);
      if (!p.timed) return;
      hist.recordValue(Math.max(1, Math.round((at - p.t0) * 1_000)));
      complete++;
      lastCompleteAt = at;
    } else if (f.type === 'ack') {
      const t0 = sentAt.get(id);
      if (t0 === undefined) return;
      sentAt.delete(id);
      acked++;
      ackHist.recordValue(Math.max(1, Math.round((at - t0) * 1_000)));
      // An ack names no room; its clientMsgId does (tag-roomIndex-n).
      rooms[Number(id.split('-').at(-2))]?.acks.push(f.seq ?? -1);
    } else if (f.type === 'error' && sentAt.has(id)) {
      sentAt.delete(id);
      pending.delete(id);
      refused[f.code ?? 'unknown'] = (refused[f.code ?? 'unknown'] ?? 0) + 1;
    }
  };
  const receivers = rooms.reduce((n, r) => n + r.members.length, 0);
  const usable = rooms.filter((r) => r.senders.length > 0);
  if (usable.length === 0) throw new Error(`${label}: no subscribed socket to send from`);
  log(`${label}: ${fmt(rate)} messages/s over ${rooms.length} room(s), ${fmt(receivers)} receivers`);

  const c0 = snapshotAll(t);
  const start = performance.now();
  const timedFrom = start + warmup * 1_000;
  const end = timedFrom + seconds * 1_000;
  let n = 0;
  let timedSent = 0;
  let firstTimedAt = 0;
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      const now = performance.now();
      const due = Math.floor(((Math.min(now, end) - start) / 1_000) * rate);
      while (n < due) {
        const i = n % usable.length;
        const r = usable[i];
        const s = r.senders[Math.floor(n / usable.length) % r.senders.length];
        const id = `${tag}-${rooms.indexOf(r)}-${n}`;
        const at = performance.now();
        const timed = at >= timedFrom;
        if (timed) {
          timedSent++;
          firstTimedAt ||= at;
        }
        pending.set(id, { t0: at, left: r.members.length, timed });
        sentAt.set(id, at);
        s.send(JSON.stringify({ type: 'send', roomId: r.roomId, text: TEXT, clientMsgId: id }));
        n++;
      }
      if (now >= end) {
        clearInterval(timer);
        resolve();
      }
    }, TICK_MS);
  });
  const sendEnd = performance.now();
  const drainBy = sendEnd + DRAIN_MS;
  while ((pending.size > 0 || sentAt.size > 0) && performance.now() < drainBy) await sleepMs(20);
  const wall = (performance.now() - start) / 1_000;
  const cpu = deltaAll(c0, snapshotAll(t), wall);
  const rss = rssAll(t);
  const incomplete = pending.size;
  hook.fn = null;
  const pct = (h: Histogram, p: number) => (h.totalCount ? h.getValueAtPercentile(p) / 1_000 : Number.NaN);
  const lastSeqs = t.lastSeqs ? await t.lastSeqs(rooms.map((r) => r.roomId)) : null;
  const run: FanoutRun = {
    sent: n,
    timedSent,
    acked,
    refused,
    complete,
    incomplete,
    seconds: complete ? (lastCompleteAt - firstTimedAt) / 1_000 : seconds,
    receivers,
    rooms: rooms.length,
    p50: pct(hist, 50),
    p95: pct(hist, 95),
    p99: pct(hist, 99),
    max: hist.totalCount ? hist.maxValue / 1_000 : Number.NaN,
    ackP50: pct(ackHist, 50),
    ackP99: pct(ackHist, 99),
    cpu,
    rss,
    audit: auditRooms(rooms, lastSeqs, n, acked),
  };
  hist.destroy();
  ackHist.destroy();
  return run;
}

/**
 * Every subscribed socket of every room got exactly seqs from+1..last of its room, each once, in
 * order (cumulative since it subscribed); each room's acks are base+1..last, one each; PostgreSQL's
 * last_seq is the last one acked.
 */
function auditRooms(
  rooms: readonly { roomId: string; members: ChatSocket[]; base: number; acks: number[] }[],
  lastSeqs: ReadonlyMap<string, number> | null,
  sent: number,
  acked: number,
): ChatAudit {
  let short = 0;
  let missing = 0;
  let duplicates = 0;
  let skipped = 0;
  let closed = 0;
  let foreign = 0;
  let badAcks = 0;
  let dbDisagrees = 0;
  let messages = 0;
  let receivers = 0;
  for (const r of rooms) {
    const acks = [...r.acks].sort((a, b) => a - b);
    const last = acks.at(-1) ?? r.base;
    messages += last - r.base;
    for (let i = 0; i < acks.length; i++) if (acks[i] !== r.base + 1 + i) badAcks++;
    if (lastSeqs && (lastSeqs.get(r.roomId) ?? -1) !== last) dbDisagrees++;
    for (const s of r.members) {
      receivers++;
      const want = last - s.from;
      if (s.closedAfterOpen) closed++;
      if (s.received < want) {
        short++;
        missing += want - s.received;
      }
      duplicates += s.duplicates;
      skipped += s.skipped;
      foreign += s.foreign;
    }
  }
  const problems: string[] = [];
  if (short) problems.push(`${fmt(short)} receivers short of ${fmt(missing)} messages`);
  if (duplicates) problems.push(`${fmt(duplicates)} duplicates or out-of-order frames`);
  if (skipped) problems.push(`${fmt(skipped)} seqs skipped`);
  if (closed) problems.push(`${fmt(closed)} sockets closed during the run`);
  if (foreign) problems.push(`${fmt(foreign)} messages of another room`);
  if (acked !== sent) problems.push(`${fmt(sent - acked)} of ${fmt(sent)} sends not acknowledged`);
  if (badAcks) problems.push(`${fmt(badAcks)} acks off the seq run`);
  if (dbDisagrees) problems.push(`PostgreSQL last_seq differs in ${dbDisagrees} rooms`);
  const db = lastSeqs ? ', PostgreSQL last_seq agrees' : '';
  return problems.length
    ? { ok: false, text: `FAILED: ${problems.join('; ')}` }
    : {
        ok: true,
        text: `${fmt(receivers)} receivers in ${rooms.length} room(s) each got its room's messages once, in seq order (${fmt(messages)} messages, ${fmt(sent)} sends acked as one seq each${db}) — OK`,
      };
}

// ---- one mode -----------------------------------------------------------------------------------

interface ModeRun {
  rows: Row[];
}

/** Opens every socket, holds them, runs both fan-outs, closes them. */
async function runMode(
  t: Target,
  layout: Layout,
  opts: BenchOptions,
  cleanups: Cleanups,
  warmup: number,
): Promise<ModeRun> {
  const { mode } = t;
  const sizes = layout.s;
  const rows: Row[] = [];
  const hook: { fn: FrameHook | null } = { fn: null };
  const rssBefore = rssAll(t);
  const specs = t.tokens.slice(0, sizes.sockets).map((token, i) => ({
    port: t.ports[i % t.ports.length],
    token,
    roomId: t.roomIds[layout.slotOf(i)],
  }));
  let set: ChatSocketSet | null = null;
  const closeSockets = cleanups.add(`close ${mode} chat sockets`, async () => {
    await set?.closeAll();
  });
  try {
    const c0 = snapshotAll(t);
    set = await openChatSockets(specs, {
      label: `${mode} sockets`,
      concurrency: OPEN_CONCURRENCY,
      deadlineMs: OPEN_DEADLINE_MS,
      onFrame: (s, f, at) => hook.fn?.(s, f, at),
    });
    const openCpu = deltaAll(c0, snapshotAll(t), set.openSeconds);
    const rate = set.opened / set.openSeconds;
    log(
      `${mode} sockets: ${fmt(set.opened)} subscribed in ${set.openSeconds.toFixed(1)} s (${fmt(rate)}/s), ${fmt(set.failed)} failed${set.firstError ? `, first: ${set.firstError}` : ''}`,
    );
    rows.push({
      key: 'connect',
      scenario: `connect + subscribe (${fmt(sizes.sockets)} sockets, ${OPEN_CONCURRENCY} at once; latency = connect → subscribed)`,
      mode,
      throughput: `${fmt(rate)} sockets/s`,
      value: rate,
      p50: percentile(set.openMs, 50),
      p95: percentile(set.openMs, 95),
      p99: percentile(set.openMs, 99),
      rssMiB: rssAll(t),
      cpu: openCpu,
      notes: [
        `${fmt(set.opened)} of ${fmt(sizes.sockets)} subscribed in ${set.openSeconds.toFixed(1)} s`,
        ...(set.failed ? [`${fmt(set.failed)} failed; first: ${set.firstError}`] : []),
      ],
    });

    const h0 = snapshotAll(t);
    const holdStart = performance.now();
    await sleepMs(opts.duration * 1_000);
    const holdCpu = deltaAll(h0, snapshotAll(t), (performance.now() - holdStart) / 1_000);
    const held = set.open();
    const rss = rssAll(t);
    let serverSays = Number.NaN;
    if (t.metricsBases.length) {
      serverSays = 0;
      for (const base of t.metricsBases) {
        const m = await scrape(base).catch(() => []);
        serverSays += m.find((r) => r.name === 'stampede_chat_connections')?.value ?? Number.NaN;
      }
    }
    log(
      `${mode} sockets: ${fmt(held)} open after ${opts.duration} s (server counts ${fmt(serverSays)}), RSS ${fmt(rss)} MiB (${fmt(rssBefore)} before), server CPU ${holdCpu.server.toFixed(2)} cores`,
    );
    rows.push({
      key: 'held',
      scenario: `connections held (${fmt(sizes.sockets)} opened, ${opts.duration} s, ${t.ports.length} process${t.ports.length > 1 ? 'es' : ''})`,
      mode,
      throughput: `${fmt(held)} open`,
      value: held,
      p50: Number.NaN,
      p95: Number.NaN,
      p99: Number.NaN,
      rssMiB: rss,
      cpu: holdCpu,
      notes: [
        `RSS ${fmt(rss)} MiB with the sockets (${fmt(rssBefore)} MiB before them, ${(((rss - rssBefore) * 1024) / Math.max(1, held)).toFixed(1)} KiB per socket)${Number.isFinite(serverSays) ? `; stampede_chat_connections ${fmt(serverSays)}` : ''}`,
      ],
    });

    const big = await fanout(
      t,
      set,
      hook,
      [0],
      sizes.bigRate,
      warmup,
      opts.duration,
      `${mode} fan-out 1 room`,
    );
    rows.push(fanoutRow('big', `fan-out, 1 room of ${fmt(sizes.bigRoom)} (send → last receiver)`, mode, big));
    log(`${mode} fan-out 1 room: ${rows.at(-1)?.throughput}, p99 ${ms(big.p99)} ms; audit ${big.audit.text}`);
    const spread = await fanout(
      t,
      set,
      hook,
      layout.spreadSlots(),
      sizes.spreadRate,
      warmup,
      opts.duration,
      `${mode} fan-out ${sizes.rooms} rooms`,
    );
    rows.push(
      fanoutRow(
        'spread',
        `fan-out, ${fmt(sizes.rooms)} rooms of ${fmt(sizes.roomSize)} (send → last receiver)`,
        mode,
        spread,
      ),
    );
    log(
      `${mode} fan-out ${sizes.rooms} rooms: ${rows.at(-1)?.throughput}, p99 ${ms(spread.p99)} ms; audit ${spread.audit.text}`,
    );
    const errs = Object.entries(set.errors);
    if (errs.length) rows.at(-1)?.notes.push(`error frames seen: ${JSON.stringify(set.errors)}`);
    return { rows };
  } finally {
    await closeSockets();
  }
}

function fanoutRow(key: RowKey, scenario: string, mode: string, r: FanoutRun): Row {
  const rate = r.complete / Math.max(r.seconds, 1e-9);
  const refused = Object.entries(r.refused);
  return {
    key,
    scenario,
    mode,
    throughput: `${fmt(rate)} msg/s`,
    value: rate,
    p50: r.p50,
    p95: r.p95,
    p99: r.p99,
    rssMiB: r.rss,
    cpu: r.cpu,
    audit: r.audit,
    notes: [
      `${fmt(r.timedSent)} timed sends (${fmt(r.sent)} with the warm-up), ${fmt(r.complete)} reached every receiver; ${fmt(r.incomplete)} did not within ${DRAIN_MS / 1000} s of the last send; max ${ms(r.max)} ms`,
      `${fmt(r.receivers)} receivers: ${fmt((rate * r.receivers) / r.rooms)} message frames/s delivered; send → ack p50 ${ms(r.ackP50)} p99 ${ms(r.ackP99)} ms`,
      ...(refused.length ? [`refused sends: ${JSON.stringify(r.refused)}`] : []),
    ],
  };
}

// ---- targets ------------------------------------------------------------------------------------

/** The bare server: no users, no rooms to create; tokens of a real JWT's length. */
async function withBare<T>(layout: Layout, cleanups: Cleanups, fn: (t: Target) => Promise<T>): Promise<T> {
  const { server, stop } = await startBareServer(cleanups, 'bare-chat-server.mjs');
  try {
    return await fn({
      mode: 'bare',
      ports: [server.port],
      pids: [server.pid],
      roomIds: Array.from({ length: layout.slots }, (_, i) => String(i + 1)),
      tokens: Array.from({ length: layout.s.sockets }, () => randomBytes(150).toString('base64url')),
      metricsBases: [],
      scopes: [{ serverPid: server.pid }],
    });
  } finally {
    await stop();
  }
}

/** Users (one per socket), the rooms, every user a member of its room. */
async function setUp(
  mode: string,
  servers: readonly ServerUnderTest[],
  api: ApiClient,
  layout: Layout,
  opts: BenchOptions,
): Promise<Target> {
  const first = servers[0];
  const t0 = Date.now();
  const users = await createUsers(api, first.adminToken, layout.s.sockets, 'chat', log);
  const roomIds: string[] = [];
  for (let slot = 0; slot < layout.slots; slot++) {
    const r = await api.must('POST', '/api/v1/chat/rooms', 201, {
      token: users.tokens[0],
      body: { name: `bench room ${slot}` },
    });
    roomIds.push(str(asObject(r, 'room'), 'id', 'room'));
  }
  const joins = await runLoad({
    url: first.server.url,
    connections: opts.connections,
    amount: layout.s.sockets,
    timeoutSec: 30,
    request: (n) => ({
      path: `/api/v1/chat/rooms/${roomIds[layout.slotOf(n)]}/members`,
      headers: { authorization: `Bearer ${users.tokens[n]}` },
    }),
  });
  if ((joins.statuses['200'] ?? 0) !== layout.s.sockets)
    throw new Error(`${mode}: ${layout.s.sockets} joins answered ${JSON.stringify(joins.statuses)}`);
  log(
    `${mode}: ${fmt(layout.s.sockets)} users in ${fmt(layout.slots)} rooms in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
  );
  const databaseUrl = first.databaseUrl;
  return {
    mode,
    ports: servers.map((s) => s.server.port),
    pids: servers.map((s) => s.server.pid),
    roomIds,
    tokens: users.tokens,
    metricsBases: servers.map((s) => s.server.url),
    scopes: servers.map((s) => ({ serverPid: s.server.pid, pgRoot: s.pgRoot, pgDb: s.pgDb })),
    lastSeqs: (ids) =>
      withDatabase(databaseUrl, async (db) => {
        const r = await db.query<{ id: string; last_seq: string }>(
          'SELECT id::text AS id, last_seq::text AS last_seq FROM chat_rooms WHERE id = ANY($1::bigint[])',
          [ids],
        );
        return new Map(r.rows.map((x) => [x.id, Number(x.last_seq)]));
      }),
  };
}

async function runServerMode(
  mode: 'embedded' | 'cluster',
  layout: Layout,
  opts: BenchOptions,
  cleanups: Cleanups,
): Promise<Row[]> {
  const serverOpts = { ...opts, serverEnv: { ...SERVER_ENV, ...opts.serverEnv } };
  const run = async (servers: readonly ServerUnderTest[], api: ApiClient) => {
    const t = await setUp(mode, servers, api, layout, opts);
    return (await runMode(t, layout, opts, cleanups, opts.warmup)).rows;
  };
  return mode === 'embedded'
    ? withServerUnderTest('embedded', cleanups, serverOpts, 16, (sut, api) => run([sut], api))
    : withServerPairUnderTest(cleanups, serverOpts, 16, (pair, api) => run(pair, api));
}

// ---- report -------------------------------------------------------------------------------------

function ratio(a: number, b: number): string {
  return Number.isFinite(a) && Number.isFinite(b) && b > 0 ? (a / b).toFixed(2) : '-';
}

function table(rows: readonly Row[]): string {
  const head = [
    'scenario',
    'mode',
    'throughput',
    'p50 ms',
    'p95 ms',
    'p99 ms',
    'bare alongside',
    '÷ bare',
    'p99 ÷ bare',
    'server RSS MiB',
    'server CPU cores',
    'audit',
  ];
  return paddedTable(
    head,
    rows.map((r) => [
      r.scenario,
      r.mode,
      r.throughput,
      ms(r.p50),
      ms(r.p95),
      ms(r.p99),
      r.bare ? `${r.bare.throughput}${Number.isFinite(r.bare.p99) ? `, p99 ${ms(r.bare.p99)} ms` : ''}` : '-',
      r.bare ? ratio(r.value, r.bare.value) : '-',
      r.bare ? ratio(r.p99, r.bare.p99) : '-',
      fmt(r.rssMiB),
      r.cpu.server.toFixed(2),
      r.audit ? (r.audit.ok ? 'OK' : 'FAILED') : '-',
    ]),
  );
}

export function report(
  rows: readonly Row[],
  m: Machine,
  opts: BenchOptions,
  sizes: Sizes,
  limit: number,
  asked: number,
): string {
  const out: string[] = [];
  out.push(
    `${fmt(sizes.sockets)} sockets (ulimit -n ${fmt(limit)}${asked > sizes.sockets ? `; ${fmt(asked)} asked` : ''}): 1 room of ${fmt(sizes.bigRoom)}, ${fmt(sizes.rooms)} rooms of ${fmt(sizes.roomSize)}, the rest listening in rooms of ${fmt(sizes.roomSize)}; ` +
      `offered ${fmt(sizes.bigRate)} msg/s to the big room and ${fmt(sizes.spreadRate)} msg/s over the ${fmt(sizes.rooms)} rooms, ${opts.warmup} s untimed + ${opts.duration} s timed each; ws client (no compression), 127.0.0.1`,
  );
  out.push('');
  out.push(table(rows));
  out.push('');
  out.push(
    `machine: ${m.cpus} × ${m.model}, ${m.memGiB} GiB, ${m.os}, node ${m.node}; ${new Date().toISOString().slice(0, 10)}`,
  );
  out.push('');
  out.push(
    `targets: 15,000 connections held by one process; fan-out p99 (send → last receiver) < ${LATENCY_TARGET_P99_MS} ms at the offered rate`,
  );
  for (const r of rows) {
    if (r.mode === 'bare') continue;
    if (r.key === 'held') {
      const perProcess = r.mode === 'cluster' ? ' (over 2 processes)' : '';
      out.push(
        `  ${r.mode.padEnd(8)} connections held ${fmt(r.value)}${perProcess} ${r.value >= 15_000 ? 'MET' : sizes.sockets < 15_000 ? `(asked ${fmt(sizes.sockets)} only)` : 'MISSED'}`,
      );
    } else if (r.key === 'big' || r.key === 'spread') {
      out.push(
        `  ${r.mode.padEnd(8)} ${r.scenario.split(' (')[0]}: p99 ${ms(r.p99)} ms ${r.p99 < LATENCY_TARGET_P99_MS ? 'MET' : 'MISSED'}`,
      );
    }
  }
  out.push('');
  out.push('audits (after each fan-out: every receiver, every message of its room, once, in seq order):');
  for (const r of rows)
    if (r.audit) out.push(`  ${r.mode.padEnd(8)} ${r.scenario.split(' (')[0]}: ${r.audit.text}`);
  out.push('');
  out.push('notes:');
  for (const r of rows)
    for (const n of r.notes) out.push(`  ${r.mode.padEnd(8)} ${r.scenario.split(' (')[0]}: ${n}`);
  out.push('');
  out.push(
    `where the CPU went (cores of ${m.cpus}; kernel = softirq, mostly loopback TCP; other = not ours):`,
  );
  for (const r of rows) {
    const c = r.cpu;
    out.push(
      `  ${r.mode.padEnd(8)} ${r.scenario.split(' (')[0].padEnd(28)} server ${c.server.toFixed(2)}, postgres ${c.postgres.toFixed(2)}, redis ${c.redis.toFixed(2)}, load tool ${c.loadgen.toFixed(2)}, kernel ${c.softirq.toFixed(2)}, other ${c.other.toFixed(2)} (machine ${c.machine.toFixed(2)})`,
    );
  }
  out.push('', `server env: ${JSON.stringify({ ...SERVER_ENV, ...opts.serverEnv })}`);
  if (opts.serverRoot) out.push('', `server under test: ${opts.serverRoot}/dist/cli.js`);
  return out.join('\n');
}

/** Runs the benchmark for `argv`; resolves to the exit code (1 when an audit failed). */
export async function main(argv: readonly string[], cleanups: Cleanups): Promise<number> {
  const opts = parseBenchArgs(argv, {
    connections: 50,
    duration: 10,
    quickDuration: 3,
    warmup: 2,
    quickWarmup: 1,
    modes: ['bare', 'embedded', 'cluster'],
    allowedModes: ['bare', 'embedded', 'cluster'],
    extra: {
      sockets: [15_000, 2_000],
      'big-room': [1_000, 1_000],
      rooms: [100, 20],
      'room-size': [100, 50],
      'big-rate': [20, 10],
      'spread-rate': [200, 50],
    },
  });
  if (opts.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (!existsSync(serverEntry()))
    throw new BenchUsageError('dist/cli.js is missing: run `npm run build` first');
  const limit = fdLimit();
  const e = opts.extra;
  const sizes: Sizes = {
    sockets: Math.min(e.sockets, Math.max(1, limit - FD_MARGIN)),
    bigRoom: e['big-room'],
    rooms: e.rooms,
    roomSize: e['room-size'],
    bigRate: e['big-rate'],
    spreadRate: e['spread-rate'],
  };
  if (sizes.sockets < e.sockets)
    log(
      `ulimit -n is ${limit}: opening ${fmt(sizes.sockets)} sockets, not ${fmt(e.sockets)} (each is a descriptor here and in the server)`,
    );
  if (sizes.bigRoom + sizes.rooms * sizes.roomSize > sizes.sockets)
    throw new BenchUsageError(
      `--big-room + --rooms × --room-size (${fmt(sizes.bigRoom + sizes.rooms * sizes.roomSize)}) must fit in the ${fmt(sizes.sockets)} sockets`,
    );
  const layout = new Layout(sizes);
  const m = machine();
  log(`machine: ${m.cpus} × ${m.model}, node ${m.node}; ulimit -n ${limit}; ${JSON.stringify(sizes)}`);
  const rows: Row[] = [];
  const serverModes = (['embedded', 'cluster'] as const).filter((x) => opts.modes.has(x));
  const bareRuns = Math.max(1, serverModes.length);
  for (let i = 0; i < bareRuns; i++) {
    const bareRows = await withBare(layout, cleanups, async (t) => {
      return (await runMode(t, layout, opts, cleanups, opts.warmup)).rows;
    });
    rows.push(...bareRows);
    const mode = serverModes[i];
    if (!mode) continue;
    const serverRows = await runServerMode(mode, layout, opts, cleanups);
    for (const r of serverRows) r.bare = bareRows.find((b) => b.key === r.key);
    rows.push(...serverRows);
  }
  await cleanups.runAll();
  process.stdout.write(`\n${report(rows, m, opts, sizes, limit, e.sockets)}\n`);
  if (opts.jsonFile)
    writeFileSync(opts.jsonFile, JSON.stringify({ machine: m, sizes, limit, rows }, null, 2));
  if (rows.some((r) => r.audit && !r.audit.ok)) {
    process.stderr.write('bench: an audit FAILED (see above)\n');
    return 1;
  }
  return 0;
}

if (isMain(import.meta.url)) runBench((cleanups) => main(process.argv.slice(2), cleanups), USAGE);
