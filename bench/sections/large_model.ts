// A 200 MB model streamed into Storage by process-jobs: the isolate's peak RSS growth (VmHWM
// after resetting it with clear_refs 5, and RSS sampled every 20 ms), the throughput (the
// simulator's log time for GET /files/…glb → finished_at) and the isolate's CPU time for the
// job. Diagnostic and reference: a fresh process uploads the same GLB to Storage, with the
// download's own body stream and through a pass-through TransformStream (twice each): the
// throughput and the peak RSS growth of each.
import { PROJECT_ROOT } from "../../localstack/db/prepare.ts";
import { type BenchContext, FN, type Section } from "../context.ts";
import { cpuMs, procStatus } from "../proc.ts";
import { fmt, round, sleep, waitFor } from "../stats.ts";

const GLB_BYTES = 200_000_000;

/** What bench/upload_probe.ts prints. */
interface ProbeRun {
  seconds: number;
  rss_growth_mib: number;
}

export const largeModel: Section = {
  name: "200 MB GLB through process-jobs",
  async run(ctx: BenchContext) {
    const h = ctx.main;
    const sql = ctx.sql;
    await h.quiesceWorker();
    const worker = await h.stack.functions.get("process-jobs")!.ensureRunning();
    const pid = worker.pid;
    const hwmReset = await Deno.writeTextFile(`/proc/${pid}/clear_refs`, "5").then(
      () => true,
      () => false,
    );
    const base = procStatus(pid);
    const cpu0 = cpuMs(pid);
    let peakRssKb = base.rssKb;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        try {
          peakRssKb = Math.max(peakRssKb, procStatus(pid).rssKb);
        } catch { /* process gone */ }
        await sleep(20);
      }
    })();
    const posted = await h.post(h.fnUrl(FN), {
      task_id: `glb-200mb-${Date.now()}`,
      prompt: `bench-glb [sim:glb=${GLB_BYTES}]`,
    }, h.authHeaders(7));
    if (posted.status !== 202) throw new Error(`GLB POST: ${posted.status} ${posted.body}`);
    const jobId = JSON.parse(posted.body).job_id as string;
    const row = await waitFor(
      "the 200 MB job to finish",
      async () => {
        const [r] = await sql<{ state: string; finished_at: Date; error_code: string | null }[]>`
          select state, finished_at, error_code from public.jobs where id = ${jobId}::uuid`;
        return r && !["queued", "running"].includes(r.state) ? r : undefined;
      },
      180_000,
      100,
    );
    sampling = false;
    await sampler;
    const after = procStatus(pid);
    const cpuJob = cpuMs(pid) - cpu0;
    const peakKb = Math.max(peakRssKb, hwmReset ? after.hwmKb : 0);
    const growthMb = (peakKb - base.rssKb) / 1024;
    const fileLog =
      await (await fetch(`${h.stack.tripoUrl}/__sim/requests?method=GET&path=/files/*`))
        .json() as { requests: { time: string; path: string }[] };
    const dl = fileLog.requests.filter((e) => e.path.endsWith(".glb")).at(-1);
    const transferS = dl ? (row.finished_at.getTime() - Date.parse(dl.time)) / 1000 : NaN;
    const mbps = GLB_BYTES / 1e6 / transferS;
    const ok = row.state === "succeeded";
    const samePid = worker.pid === h.stack.functions.get("process-jobs")!.pid;
    ctx.report.row(
      "200 MB GLB → Storage: process-jobs peak RSS growth",
      `${fmt(growthMb, " MiB")} (baseline ${fmt(base.rssKb / 1024, " MiB")}, peak ${
        fmt(peakKb / 1024, " MiB")
      }${hwmReset ? ", VmHWM reset" : ", sampled every 20 ms"})` + (ok ? "" : ` job ${row.state}`),
      "Edge limit 256 MB",
      "≤ 64 MB",
      ok && growthMb <= 64,
    );
    ctx.report.row(
      "200 MB GLB → Storage: throughput (download start → job complete)",
      `${fmt(mbps, " MB/s")} (${fmt(transferS, " s")})`,
      "",
      "≥ 100 MB/s",
      ok && mbps >= 100,
    );
    ctx.report.info(
      "200 MB GLB job: process-jobs CPU time (utime+stime, submit → complete)",
      `${fmt(cpuJob, " ms")}${samePid ? "" : " (isolate replaced: n/a)"}`,
      "Edge limit 2 s CPU per request",
    );

    // The same GLB into Storage from a fresh process, once per mode and twice, alternating.
    const probe = async (mode: "native" | "transform") => {
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", "--no-prompt", `${PROJECT_ROOT}bench/upload_probe.ts`],
        cwd: PROJECT_ROOT,
        env: {
          DENO_NO_PACKAGE_JSON: "1",
          PROBE_SIM: h.stack.tripoUrl,
          PROBE_STORAGE: h.stack.url,
          PROBE_KEY: h.stack.keys.secretKey,
          PROBE_BYTES: String(GLB_BYTES),
          PROBE_MODE: mode,
        },
        stdout: "piped",
        stderr: "inherit",
      }).output();
      return JSON.parse(new TextDecoder().decode(out.stdout)) as ProbeRun;
    };
    const runs = { native: [] as ProbeRun[], transform: [] as ProbeRun[] };
    for (let i = 0; i < 2; i++) {
      for (const mode of ["native", "transform"] as const) runs[mode].push(await probe(mode));
    }
    const speed = (r: ProbeRun[]) => r.map((x) => fmt(GLB_BYTES / 1e6 / x.seconds)).join(", ");
    const growth = (r: ProbeRun[]) => r.map((x) => fmt(x.rss_growth_mib)).join(", ");
    ctx.report.info(
      "200 MB into Storage, diagnostic: fetch body = download stream vs through a TransformStream (MB/s)",
      `${speed(runs.native)} vs ${speed(runs.transform)}`,
      "",
      "diagnostic",
    );
    // What the runtime itself keeps while 200 MB of chunks pass through JavaScript (V8 frees the
    // chunks' buffers only once enough of them are garbage): the least any transfer that checks
    // its bytes can grow by, in a process as fresh as a new isolate.
    ctx.report.info(
      "200 MB into Storage, reference: a fresh process's peak RSS growth, body piped natively vs through one pass-through TransformStream",
      `${growth(runs.native)} vs ${growth(runs.transform)} MiB`,
      `process-jobs ${fmt(growthMb, " MiB")}`,
      "reference",
    );
    ctx.report.set("large_model", {
      bytes: GLB_BYTES,
      state: row.state,
      error_code: row.error_code,
      rss_baseline_mib: round(base.rssKb / 1024),
      rss_peak_mib: round(peakKb / 1024),
      rss_growth_mib: round(growthMb),
      hwm_reset: hwmReset,
      transfer_s: round(transferS),
      mb_per_s: round(mbps),
      process_jobs_cpu_ms: samePid ? round(cpuJob) : null,
      upload_probe_mb_per_s: {
        native: runs.native.map((x) => round(GLB_BYTES / 1e6 / x.seconds)),
        transform: runs.transform.map((x) => round(GLB_BYTES / 1e6 / x.seconds)),
      },
      upload_probe_rss_growth_mib: {
        native: runs.native.map((x) => round(x.rss_growth_mib)),
        transform: runs.transform.map((x) => round(x.rss_growth_mib)),
      },
    });
  },
};
