/**
 * Where the CPU went during a measured run, from Linux's /proc accounting: the server under test,
 * our PostgreSQL, Redis, this load tool, the kernel's softirq time (mostly loopback TCP) and the
 * rest of the machine ("other": not ours).
 */
import { readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';

const TICK = 100; // USER_HZ on Linux

/**
 * Which processes are ours. PostgreSQL counts only our instance: the embedded postmaster and its
 * children (`pgRoot`), or, on the shared local server, the backends of our database (`pgDb`) plus
 * that server's WAL/checkpoint processes.
 */
export interface CpuScope {
  serverPid: number;
  pgRoot?: number;
  pgDb?: string;
}

export interface CpuSnapshot {
  server: number;
  postgres: number;
  redis: number;
  loadgen: number;
  machineBusy: number;
  machineTotal: number;
  softirq: number;
}

/** Cores used (CPU-seconds per wall second) between two snapshots; `other` = machine − ours. */
export interface CpuSplit {
  server: number;
  postgres: number;
  redis: number;
  loadgen: number;
  softirq: number;
  machine: number;
  other: number;
}

function isOurPostgres(scope: CpuScope, pid: number, ppid: number): boolean {
  if (scope.pgRoot) return pid === scope.pgRoot || ppid === scope.pgRoot;
  if (!scope.pgDb) return false;
  let cmd = '';
  try {
    cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return false;
  }
  return (
    cmd.includes(` ${scope.pgDb} `) ||
    /^postgres: [^:]+: (checkpointer|background writer|walwriter)/.test(cmd)
  );
}

/** CPU ticks so far, per class. */
export function cpuSnapshot(scope: CpuScope): CpuSnapshot {
  const by = { server: 0, postgres: 0, redis: 0, loadgen: 0 };
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${d}/stat`, 'utf8');
    } catch {
      continue;
    }
    const close = stat.lastIndexOf(')');
    const comm = stat.slice(stat.indexOf('(') + 1, close);
    const f = stat.slice(close + 2).split(' ');
    const ppid = Number(f[1]);
    const ticks = Number(f[11]) + Number(f[12]);
    const pid = Number(d);
    if (pid === scope.serverPid) by.server += ticks;
    else if (pid === process.pid) by.loadgen += ticks;
    else if (comm.startsWith('redis-server')) by.redis += ticks;
    else if (comm.startsWith('postgres') && isOurPostgres(scope, pid, ppid)) by.postgres += ticks;
  }
  const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const total = cpu.slice(0, 8).reduce((a, b) => a + b, 0);
  return { ...by, machineBusy: total - cpu[3] - cpu[4], machineTotal: total, softirq: cpu[6] };
}

export function cpuDelta(a: CpuSnapshot, b: CpuSnapshot, seconds: number): CpuSplit {
  const cores = (k: keyof CpuSnapshot) => (b[k] - a[k]) / TICK / seconds;
  const share = (k: keyof CpuSnapshot) =>
    ((b[k] - a[k]) / (b.machineTotal - a.machineTotal)) * os.cpus().length;
  const out = {
    server: cores('server'),
    postgres: cores('postgres'),
    redis: cores('redis'),
    loadgen: cores('loadgen'),
    softirq: share('softirq'),
    machine: share('machineBusy'),
  };
  return {
    ...out,
    other: Math.max(0, out.machine - out.server - out.postgres - out.redis - out.loadgen - out.softirq),
  };
}
