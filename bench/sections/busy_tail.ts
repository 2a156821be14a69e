// The tail while the worker is busy: 200 POSTs at c16 to the floor (as a function through the
// gateway, as POST latency compares it, and as a bare process for reference), to the function's
// isolate and through the gateway, while process-jobs works through earlier jobs that do real
// provider-simulated work (bench/busy_workload.ts: 5 MB GLB downloads and Storage writes,
// input downloads and Tripo uploads, 1024×1024 OpenAI images), fed at FEED_PER_S through the
// gateway from a second Web Worker for the whole section. ROUNDS rounds, targets in a rotating
// order; the measured POSTs' own jobs are cancelled after each block so every block meets the
// same backlog. Instruments per block (bench/tail_probe.ts): stalls of the main isolate's event
// loop (gateway, Storage, Auth and — unless the stack runs them in a process of their own —
// the simulators), with GC marks; CPU of every process involved and of the machine; wait events
// of the database's active backends; the provider and Storage work done; process-jobs wake-ups.
import {
  type BenchContext,
  FLOOR_FN,
  FLOOR_FUNCTION,
  FN,
  type Section,
  type StackHandle,
} from "../context.ts";
import {
  feederRequests,
  GLB_BYTES,
  IMAGE_SIDE,
  suspectCosts,
  uploadInputs,
  workDone,
} from "../busy_workload.ts";
import { fmt, percentile, round, sleep } from "../stats.ts";
import {
  cpuWindow,
  overlapsStall,
  pgGrouper,
  runQueueWindow,
  type Stall,
  startLoopMonitor,
  startWaitSampler,
} from "../tail_probe.ts";

const ROUNDS = 4;
const REQUESTS = 200;
const CONCURRENCY = 16;
const FEED_PER_S = 5;
const WARM_MS = 4000;

/** floor: the bare process; floor_gateway: the floor deployed as a function, through the gateway. */
type Target = "floor" | "floor_gateway" | "gateway" | "direct";
interface Block {
  target: Target;
  lat: number[];
  startedAt: number[];
  stalls: Stall[];
  lateMs: number;
  wallMs: number;
  cores: Record<string, number>;
  busyShare: number;
  waits: Record<string, number>;
  waitSamples: number;
  /** ms per s each main thread waited for a core. */
  runQueue: Record<string, number>;
  work: Record<string, number>;
  wakeUps: number;
}

export type BusyVariant = "in_process" | "simulators_process";

export function busyTail(variant: BusyVariant, opts: { target: boolean }): Section {
  const label = variant === "in_process"
    ? "simulators in the gateway's process"
    : "simulators in their own process";
  return {
    name: `POST tail while the worker is busy (${label})`,
    async run(ctx: BenchContext) {
      let h: StackHandle = ctx.main;
      if (variant === "simulators_process") {
        await ctx.main.quiesceWorker();
        await ctx.main.pauseWorker();
        h = await ctx.extraStack("simulators_process", {
          simulatorsProcess: true,
          extraFunctions: [FLOOR_FUNCTION],
        });
      }
      const costs = await suspectCosts(ctx.dataDir);
      await h.quiesceWorker();
      await h.simConfig("tripo", { queueMs: 0, runMs: 300, glbSize: GLB_BYTES });
      await h.simConfig("openai", { imageSide: IMAGE_SIDE });
      const inputs = await uploadInputs(h, ctx.users, 20);
      const floor = await ctx.floor();
      const urls: Record<Target, string> = {
        floor: await ctx.floorUrl(),
        floor_gateway: h.fnUrl(FLOOR_FN),
        gateway: h.fnUrl(FN),
        direct: await h.directUrl(FN),
      };
      const tag = `busy${variant === "in_process" ? "i" : "p"}${Date.now()}`;
      const feeding = ctx.runPaced({
        perSecond: FEED_PER_S,
        requests: feederRequests(h, inputs, 3000, `${tag}-bg`),
      });
      const blocks: Block[] = [];
      try {
        await sleep(WARM_MS);
        const names: Target[] = ["floor", "floor_gateway", "gateway", "direct"];
        for (let r = 0; r < ROUNDS; r++) {
          for (const target of names.map((_, i) => names[(i + r) % names.length])) {
            blocks.push(
              await block(ctx, h, target, urls[target], floor.pid, `${tag}-${target}-${r}`),
            );
          }
        }
      } finally {
        ctx.stopPaced();
        await feeding;
        await ctx.cancelJobsLike(`${tag}-`);
        await h.simConfig("tripo", { runMs: 0, glbSize: 64 * 1024 });
        await h.simConfig("openai", { imageSide: 64 });
        await h.quiesceWorker();
        if (h !== ctx.main) await h.pauseWorker();
      }
      summarize(ctx, variant, label, opts.target, blocks, costs);
    },
  };
}

async function block(
  ctx: BenchContext,
  h: StackHandle,
  target: Target,
  url: string,
  floorPid: number,
  prefix: string,
): Promise<Block> {
  const s = h.stack;
  const pj = await s.functions.get("process-jobs")!.ensureRunning();
  const wake0 = pj.dispatched;
  const poolerPid = Number(await Deno.readTextFile(`${s.pooler.dir}/pgbouncer.pid`).catch(() => 0));
  const others = [...s.functions.values()].filter((f) =>
    f.name !== FN && f.name !== "process-jobs" && f.name !== FLOOR_FN
  );
  const cpu = cpuWindow(() => ({
    "gateway loop (bench main thread)": `${Deno.pid}/${Deno.pid}`,
    "bench process, all threads": Deno.pid,
    "generation isolate": s.functions.get(FN)!.pid ?? 0,
    "process-jobs isolate": pj.pid,
    "other function isolates": others.map((f) => f.pid ?? 0).filter(Boolean),
    "simulators process": s.simulatorsPid ?? [],
    "floor": floorPid,
    "floor isolate": s.functions.get(FLOOR_FN)?.pid ?? [],
    "pgbouncer": poolerPid || [],
  }), ["gateway loop (bench main thread)"]);
  const gen = s.functions.get(FN)!.pid ?? 0;
  const queued = runQueueWindow({
    "gateway loop": `${Deno.pid}/${Deno.pid}`,
    "generation isolate": `${gen}/${gen}`,
    "process-jobs isolate": `${pj.pid}/${pj.pid}`,
    "floor": `${floorPid}/${floorPid}`,
  });
  const monitor = startLoopMonitor();
  const waits = startWaitSampler(ctx.sql);
  const t0 = Date.now();
  // The floor verifies against the main stack's JWKS; every stack signs with its own key.
  const tokens = target === "floor" ? ctx.main.tokens : h.tokens;
  const res = await ctx.runLoad({
    url,
    requests: REQUESTS,
    concurrency: CONCURRENCY,
    tokens,
    prefix,
  });
  const t1 = Date.now();
  const c = cpu(await pgGrouper(ctx.sql));
  const runQueue = queued();
  const loop = monitor.stop();
  const w = await waits.stop();
  // A block whose answers are not 202s measured something else (e.g. refused tokens).
  if ((res.statuses["202"] ?? 0) < REQUESTS * 0.99) {
    throw new Error(`${target}: not every answer was 202: ${JSON.stringify(res.statuses)}`);
  }
  await ctx.cancelJobsLike(`${prefix}-`);
  return {
    target,
    lat: res.latenciesMs,
    startedAt: res.startedAt,
    stalls: loop.stalls,
    lateMs: loop.lateMs,
    wallMs: t1 - t0,
    cores: c.cores,
    busyShare: c.machineBusyShare,
    waits: w.counts,
    waitSamples: w.samples,
    runQueue,
    work: await workDone(h, ctx.sql, t0, t1),
    wakeUps: pj.dead ? NaN : pj.dispatched - wake0,
  };
}

function summarize(
  ctx: BenchContext,
  variant: BusyVariant,
  label: string,
  hasTarget: boolean,
  blocks: Block[],
  costs: Record<string, number>,
) {
  const of = (t: Target) => blocks.filter((b) => b.target === t);
  const lat = (t: Target) => of(t).flatMap((b) => b.lat);
  // The bare floor: the slow-request threshold below and the reference of the direct blocks.
  const floorP50 = percentile(lat("floor"), 50);
  const floorP99 = percentile(lat("floor"), 99);
  const fgP50 = percentile(lat("floor_gateway"), 50);
  const fgP99 = percentile(lat("floor_gateway"), 99);
  const json: Record<string, unknown> = { costs_ms: mapR(costs) };
  const bare = `bare floor ${fmt(floorP50, " ms")} / ${fmt(floorP99, " ms")}`;
  // The gateway POSTs against the floor reached the same way (as POST latency compares them);
  // the direct ones against the bare floor (neither crosses the gateway).
  const refs = {
    gateway: {
      p50: fgP50,
      p99: fgP99,
      text: `floor function through the gateway ${fmt(fgP50, " ms")} / ${
        fmt(fgP99, " ms")
      }; ${bare}`,
    },
    direct: { p50: floorP50, p99: floorP99, text: bare },
  };
  for (const t of ["gateway", "direct"] as const) {
    const p50 = percentile(lat(t), 50);
    const p99 = percentile(lat(t), 99);
    const ref = refs[t];
    ctx.report.row(
      `POST ${t}, c${CONCURRENCY}, worker busy (${label}; ${ROUNDS}×${REQUESTS}): p50 / p99`,
      `${fmt(p50, " ms")} / ${fmt(p99, " ms")} (${fmt(p50 / ref.p50)}× / ${fmt(p99 / ref.p99)}×)`,
      `in the same blocks' conditions: ${ref.text}`,
      hasTarget && t === "gateway" ? "p99 ≤ 3× floor" : "diagnostic",
      hasTarget && t === "gateway" ? p99 / ref.p99 <= 3 : null,
    );
    json[t] = {
      p50: round(p50),
      p99: round(p99),
      ratio_p50: round(p50 / ref.p50),
      ratio_p99: round(p99 / ref.p99),
      ratio_p99_bare_floor: round(p99 / floorP99),
    };
  }
  json.floor = { p50: round(floorP50), p99: round(floorP99) };
  json.floor_gateway = { p50: round(fgP50), p99: round(fgP99) };
  // Where the tail comes from: per target, the share of its slow requests (slower than the
  // floor's p99) that overlapped a stall of the main loop, and the stalls themselves.
  const perTarget: Record<string, unknown> = {};
  for (const t of ["floor", "floor_gateway", "gateway", "direct"] as const) {
    const bs = of(t);
    const wall = bs.reduce((a, b) => a + b.wallMs, 0);
    const stalls = bs.flatMap((b) => b.stalls);
    let slow = 0;
    let slowInStall = 0;
    for (const b of bs) {
      b.lat.forEach((ms, i) => {
        if (ms <= floorP99) return;
        slow++;
        if (overlapsStall(b.stalls, b.startedAt[i], ms)) slowInStall++;
      });
    }
    // Per-second figures, weighted by each block's wall time.
    const perWall = (pick: (b: Block) => Record<string, number>, perSecond: boolean) => {
      const out: Record<string, number> = {};
      for (const b of bs) {
        for (const [k, v] of Object.entries(pick(b))) {
          out[k] = (out[k] ?? 0) + (perSecond ? (v / wall) * 1000 : (v * b.wallMs) / wall);
        }
      }
      return mapR(out);
    };
    const samples = bs.reduce((a, b) => a + b.waitSamples, 0);
    perTarget[t] = {
      wall_ms: round(wall),
      slow_requests: slow,
      slow_overlapping_a_stall: slowInStall,
      loop_late_ms_per_s: round((bs.reduce((a, b) => a + b.lateMs, 0) / wall) * 1000),
      stalls: stalls.length,
      stalls_ms_total: round(stalls.reduce((a, s) => a + s.ms, 0)),
      stall_max_ms: round(Math.max(0, ...stalls.map((s) => s.ms))),
      stalls_with_gc: stalls.filter((s) => s.gc).length,
      machine_busy_share: round(bs.reduce((a, b) => a + b.busyShare * b.wallMs, 0) / wall),
      cores: perWall((b) => b.cores, false),
      run_queue_wait_ms_per_s: perWall((b) => b.runQueue, false),
      db_active_backends_per_sample: mapR(sumOf(bs.map((b) => b.waits), 1 / samples)),
      work_per_s: perWall((b) => b.work, true),
      wake_ups_per_s: round((bs.reduce((a, b) => a + b.wakeUps, 0) / wall) * 1000),
    };
  }
  json.per_target = perTarget;
  type Fig = Record<string, number & Record<string, number>>;
  const g = perTarget.gateway as Fig;
  const d = perTarget.direct as Fig;
  const f = perTarget.floor as Fig;
  const top = (o: Record<string, number>, n: number, unit = "") =>
    Object.entries(o).sort((a, b) => b[1] - a[1]).slice(0, n).map(([k, v]) =>
      `${k} ${fmt(v)}${unit}`
    ).join(", ");
  ctx.report.info(
    `busy tail (${label}): slow gateway POSTs vs main-loop stalls`,
    `${g.slow_overlapping_a_stall} of ${g.slow_requests} POSTs slower than the floor's p99 ` +
      `overlapped a stall ≥ 10 ms; ${g.stalls} stalls, max ${fmt(g.stall_max_ms, " ms")}, ` +
      `${g.stalls_with_gc} with a major GC; loop late ${fmt(g.loop_late_ms_per_s, " ms")}/s`,
    `direct blocks: ${d.slow_overlapping_a_stall} of ${d.slow_requests}; suspects' cost on ` +
      `one thread: ${top(costs, 3, " ms")}`,
    "diagnostic",
  );
  ctx.report.info(
    `busy tail (${label}): CPU in the gateway blocks`,
    `machine busy ${fmt(g.machine_busy_share * 100)}%; cores: ${top(g.cores, 6)}`,
    `waiting for a core (ms/s): ${top(g.run_queue_wait_ms_per_s, 3)} (floor thread in the ` +
      `floor blocks ${fmt(f.run_queue_wait_ms_per_s.floor)}, generation isolate in the direct ` +
      `blocks ${fmt(d.run_queue_wait_ms_per_s["generation isolate"])}); work/s: ${
        top(g.work_per_s, 4)
      }; wake-ups ${fmt(g.wake_ups_per_s)}/s; DB backends: ${
        top(g.db_active_backends_per_sample, 3)
      }`,
    "diagnostic",
  );
  ctx.report.set(`busy_tail_${variant}`, json);
}

function sumOf(list: Record<string, number>[], scale: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const o of list) for (const [k, v] of Object.entries(o)) out[k] = (out[k] ?? 0) + v * scale;
  return out;
}

function mapR(o: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, round(v)]));
}
