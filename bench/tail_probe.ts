// Instruments for the busy-worker tail (sections/busy_tail.ts):
// - a loop monitor in the main isolate (the gateway, Storage, Auth and, by default, the
//   simulators share its event loop): a 2 ms timer whose lateness is the time the loop could
//   not run anything else; stalls ≥ STALL_MS are kept with their start, and a drop of the heap
//   between two ticks marks a major GC within the stall;
// - a sampler of pg_stat_activity wait events of this database's active backends;
// - CPU time (utime + stime) of named processes and threads, and of the whole machine.
import type postgres from "postgres";
import { cpuMs, machineCpuMs, pidsNamed, ticksPerSecond } from "./proc.ts";

const TICK_MS = 2;
export const STALL_MS = 10;

export interface Stall {
  at: number; // epoch ms when the loop stopped running
  ms: number;
  gc: boolean;
}

export function startLoopMonitor() {
  const stalls: Stall[] = [];
  let lateTotal = 0;
  let last = performance.timeOrigin + performance.now();
  let heap = Deno.memoryUsage().heapUsed;
  const timer = setInterval(() => {
    const now = performance.timeOrigin + performance.now();
    const late = now - last - TICK_MS;
    const h = Deno.memoryUsage().heapUsed;
    if (late > 0) lateTotal += late;
    if (late >= STALL_MS) stalls.push({ at: last + TICK_MS, ms: late, gc: h < heap - 8 * 2 ** 20 });
    heap = h;
    last = now;
  }, TICK_MS);
  return {
    stop() {
      clearInterval(timer);
      return { stalls, lateMs: lateTotal };
    },
  };
}

/** Whether [start, start+ms] overlaps a stall. */
export function overlapsStall(stalls: Stall[], start: number, ms: number): boolean {
  return stalls.some((s) => s.at < start + ms && s.at + s.ms > start);
}

export function startWaitSampler(sql: postgres.Sql, everyMs = 20) {
  const counts: Record<string, number> = {};
  let samples = 0;
  let active = 0;
  let running = true;
  const done = (async () => {
    while (running) {
      const rows = await sql<{ w: string }[]>`
        select coalesce(wait_event_type || ':' || wait_event, 'CPU') as w
        from pg_stat_activity
        where datname = current_database() and state = 'active' and pid <> pg_backend_pid()`
        .catch(() => []);
      samples++;
      active += rows.length;
      for (const r of rows) counts[r.w] = (counts[r.w] ?? 0) + 1;
      await new Promise((r) => setTimeout(r, everyMs));
    }
  })();
  return {
    async stop() {
      running = false;
      await done;
      return { samples, meanActive: active / Math.max(1, samples), counts };
    },
  };
}

/** A thread of a process: `${pid}/${tid}`; or a process: pid. */
export type CpuTarget = number | number[] | string;

function targetMs(t: CpuTarget): number {
  if (typeof t === "string") {
    try {
      const stat = Deno.readTextFileSync(`/proc/${t.replace("/", "/task/")}/stat`);
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      return ((Number(f[11]) + Number(f[12])) * 1000) / ticksPerSecond();
    } catch {
      return NaN;
    }
  }
  const pids = Array.isArray(t) ? t : [t];
  return pids.reduce((sum, p) => sum + (cpuMs(p) || 0), 0);
}

/**
 * CPU of each target and of the machine between this call and the returned stop(), as cores'
 * worth (CPU ms / wall ms). Targets named in `nested` are part of another target and are not
 * added up into "everything else on the machine". Postgres processes are grouped by the
 * classifier given to stop() (backends come and go: a new one counts from 0).
 */
export function cpuWindow(targets: () => Record<string, CpuTarget>, nested: string[] = []) {
  const before = Object.fromEntries(Object.entries(targets()).map(([k, t]) => [k, targetMs(t)]));
  const pg0 = new Map(pidsNamed("postgres").map((p) => [p, cpuMs(p)]));
  const m0 = machineCpuMs();
  const w0 = performance.now();
  return (pgGroup: (pid: number) => string) => {
    const wallMs = performance.now() - w0;
    const m1 = machineCpuMs();
    const out: Record<string, number> = {};
    for (const [k, t] of Object.entries(targets())) out[k] = targetMs(t) - (before[k] ?? 0);
    for (const p of pidsNamed("postgres")) {
      const g = pgGroup(p);
      out[g] = (out[g] ?? 0) + (cpuMs(p) || 0) - (pg0.get(p) ?? 0);
    }
    const ours = Object.entries(out).filter(([k]) => !nested.includes(k))
      .reduce((a, [, b]) => a + (Number.isFinite(b) ? b : 0), 0);
    const busy = m1.busy - m0.busy;
    out["everything else on the machine"] = Math.max(0, busy - ours);
    return {
      wallMs,
      machineBusyShare: busy / Math.max(1, m1.total - m0.total),
      /** Cores' worth of CPU each used over the window. */
      cores: Object.fromEntries(Object.entries(out).map(([k, v]) => [k, v / wallMs])),
    };
  };
}

/** Groups postgres pids: this database's backends, server processes, other databases. */
export async function pgGrouper(sql: postgres.Sql): Promise<(pid: number) => string> {
  const rows = await sql<{ pid: number; datname: string | null; ours: boolean }[]>`
    select pid, datname, datname = current_database() as ours from pg_stat_activity`;
  const by = new Map(rows.map((r) => [r.pid, r]));
  return (pid) => {
    const r = by.get(pid);
    if (r?.ours) return "postgres, this database's backends";
    if (r && r.datname === null) return "postgres, server processes (WAL writer, checkpointer, …)";
    return "postgres, other databases (other work on the machine)";
  };
}

/** Run-queue wait of a thread (`pid/tid`) from /proc/<pid>/task/<tid>/schedstat, in ms. */
function waitMs(thread: string): number {
  try {
    const [, wait] = Deno.readTextFileSync(`/proc/${thread.replace("/", "/task/")}/schedstat`)
      .trim().split(" ").map(Number);
    return wait / 1e6;
  } catch {
    return NaN;
  }
}

/**
 * How long each thread was runnable but waiting for a core (the kernel's schedstat) between
 * this call and stop(), in ms per second of wall time: CPU contention, measured.
 */
export function runQueueWindow(threads: Record<string, string>) {
  const w0 = performance.now();
  const before = Object.fromEntries(Object.entries(threads).map(([k, t]) => [k, waitMs(t)]));
  return () => {
    const wall = performance.now() - w0;
    return Object.fromEntries(
      Object.entries(threads).map(([k, t]) => [k, ((waitMs(t) - before[k]) / wall) * 1000]),
    );
  };
}
