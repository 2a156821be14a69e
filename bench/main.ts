// `npm run bench`: starts the local stack on a fresh database with instant provider simulators,
// runs the sections below in order (each measures the BFF beside a floor or reference taken in
// the same run), prints one table and one `BENCH_JSON {...}` line, and always drops the
// database and the Storage files. See BENCHMARKS.md for the method of each section.
// Adding a section: one file in bench/sections/ exporting a `Section`, and one line below.
import {
  createDatabase,
  dropDatabase,
  dropStaleDatabases,
  migrate,
} from "../localstack/db/prepare.ts";
import { adminUrlOrExit } from "../localstack/db/cluster.ts";
import { BenchContext, say, type Section } from "./context.ts";
import { printTable } from "./report.ts";
import { round } from "./stats.ts";
import { authVerify } from "./sections/auth_verify.ts";
import { busyTail } from "./sections/busy_tail.ts";
import { coldStart } from "./sections/cold_start.ts";
import { cpuTime } from "./sections/cpu_time.ts";
import { credits } from "./sections/credits.ts";
import { largeModel } from "./sections/large_model.ts";
import { pipeline } from "./sections/pipeline.ts";
import { planCache } from "./sections/plan_cache.ts";
import { postBreakdown } from "./sections/post_breakdown.ts";
import { postLatency } from "./sections/post_latency.ts";
import { queue } from "./sections/queue.ts";
import { realtimeLatency } from "./sections/realtime_latency.ts";
import { roundTrips } from "./sections/round_trips.ts";

const SECTIONS: Section[] = [
  coldStart,
  postLatency,
  postBreakdown,
  credits,
  cpuTime,
  pipeline("normal"),
  pipeline("early_drop"),
  pipeline("normal", { perSecond: 8, jobs: 100 }),
  pipeline("early_drop", { perSecond: 8, jobs: 100 }),
  busyTail("in_process", { target: false }),
  busyTail("simulators_process", { target: true }),
  realtimeLatency,
  largeModel,
  roundTrips,
  queue,
  planCache,
  authVerify,
];

// `--only word,word` (or BENCH_ONLY=word,word) runs only the sections whose name contains one
// of the words (development); BENCH_DEBUG=1 makes some sections print their raw samples to stderr.
const onlyArg = Deno.args.findIndex((a) => a === "--only" || a.startsWith("--only="));
const onlyText = onlyArg < 0
  ? Deno.env.get("BENCH_ONLY")
  : Deno.args[onlyArg].startsWith("--only=")
  ? Deno.args[onlyArg].slice("--only=".length)
  : Deno.args[onlyArg + 1];
if (onlyArg >= 0 && !onlyText) {
  console.error("usage: bench/main.ts [--only word,word]");
  Deno.exit(2);
}
const only = onlyText?.split(",").map((s) => s.trim()).filter(Boolean);
const sections = only ? SECTIONS.filter((s) => only.some((o) => s.name.includes(o))) : SECTIONS;
if (only && sections.length === 0) {
  console.error(`no section matches ${only.join(", ")}: ${SECTIONS.map((s) => s.name).join("; ")}`);
  Deno.exit(2);
}

const prefix = "makeit3d_bench";
const dbName = `${prefix}${Date.now()}`;
// SUPABASE_DB_URL (must answer), else 5432, else the private cluster (localstack/db/cluster.ts).
const adminUrl = await adminUrlOrExit(say);
const t0 = performance.now();
let ctx: BenchContext | undefined;
let dataDir: string | undefined;
let cleaned: Promise<void> | undefined;

function cleanup(): Promise<void> {
  cleaned ??= (async () => {
    await ctx?.close().catch((e) => say(`stopping the stack: ${e}`));
    await dropDatabase(adminUrl, dbName).catch((e) => say(`drop failed: ${e}`));
    if (dataDir) await Deno.remove(dataDir, { recursive: true }).catch(() => {});
  })();
  return cleaned;
}

for (const sig of ["SIGINT", "SIGTERM"] as const) {
  Deno.addSignalListener(sig, () => {
    say(`${sig}: cleaning up`);
    cleanup().finally(() => Deno.exit(130));
  });
}

let machine: Record<string, unknown> = {};
try {
  await dropStaleDatabases(adminUrl, prefix, 3600_000);
  say(`fresh database ${dbName} (bootstrap + supabase db push)`);
  const dbUrl = await createDatabase(adminUrl, dbName);
  await migrate(dbUrl, { quiet: true });
  dataDir = await Deno.makeTempDir({ prefix: "makeit3d-bench-storage-" });
  ctx = await BenchContext.create(dbUrl, dataDir);
  say(`stack up at ${ctx.main.stack.url} (${Math.round(performance.now() - t0)} ms)`);
  machine = await describeMachine(ctx);
  for (const section of sections) {
    const started = performance.now();
    say(section.name);
    try {
      await section.run(ctx);
    } catch (e) {
      say(`${section.name} FAILED: ${e instanceof Error ? e.stack ?? e.message : e}`);
      ctx.report.fail(section.name, e);
      await ctx.recover().catch((r) => say(`recovering after ${section.name}: ${r}`));
    }
    say(`  ${section.name}: ${Math.round((performance.now() - started) / 1000)} s`);
  }
} catch (e) {
  say(`FAILED: ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
  await cleanup();
  Deno.exit(1);
}
const report = ctx!.report;
await cleanup();
const totalS = round((performance.now() - t0) / 1000);
printTable(
  report,
  `MakeIt3D BFF benchmark — ${machine.nproc} cores, ${machine.memory_gib} GiB, ${machine.cpu}; ` +
    `Deno ${machine.deno}, Postgres ${machine.postgres}; ${totalS} s`,
);
console.log(
  `BENCH_JSON ${
    JSON.stringify({ rows: report.rows.length, machine, total_s: totalS, ...report.json })
  }`,
);
Deno.exit(report.failures.length ? 1 : 0);

async function describeMachine(c: BenchContext) {
  const mem = await Deno.readTextFile("/proc/meminfo").catch(() => "");
  const cpu = await Deno.readTextFile("/proc/cpuinfo").catch(() => "");
  const [pg] = await c.sql`select current_setting('server_version') as v`;
  return {
    nproc: navigator.hardwareConcurrency,
    memory_gib: round(Number(mem.match(/MemTotal:\s+(\d+)/)?.[1] ?? 0) / 1024 / 1024),
    cpu: cpu.match(/model name\s*:\s*(.+)/)?.[1]?.trim() ?? "unknown",
    deno: Deno.version.deno,
    postgres: pg.v as string,
  };
}
