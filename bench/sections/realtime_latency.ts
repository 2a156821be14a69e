// Provider success → the job's terminal event received by a subscribed app (issue: live job
// updates). 20 users subscribe with supabase-js's own Realtime client to their private
// `user:<id>:jobs` topics through the stand-in; 100 text-to-model jobs are posted at 8/s, each
// running 1–3 s on the Tripo simulator (`[sim:slow=MS]`, spread evenly, so completions fall at
// every phase of the poll cadence). Done = the simulator's POST /task time + the run time; the
// end is the arrival, in this process, of the job's `complete` event. Also counted: events per
// job, and whether every job's events came in seq order and ended with the terminal one.
import { createClient, type SupabaseClient } from "@supabase/supabase-js";
import { type BenchContext, FN, type Section } from "../context.ts";
import { fmt, percentile, round, sleep, waitFor } from "../stats.ts";
import { tripoSubmitTimes } from "../jobs.ts";

const SUBSCRIBERS = 20;
const JOBS = 100;
const PER_SECOND = 8;

interface Arrival {
  seq: number;
  status: string;
  at: number;
}

export const realtimeLatency: Section = {
  name: "provider success → terminal Realtime event",
  async run(ctx: BenchContext) {
    const h = ctx.main;
    await h.quiesceWorker();
    const arrivals = new Map<string, Arrival[]>();
    const clients: SupabaseClient[] = [];
    try {
      for (let i = 0; i < SUBSCRIBERS; i++) {
        const token = h.tokens[i];
        const client = createClient(h.stack.url, h.stack.keys.publishableKey, {
          auth: { persistSession: false, autoRefreshToken: false },
          accessToken: () => Promise.resolve(token),
        });
        clients.push(client);
        await client.realtime.setAuth(token);
        const statuses: string[] = [];
        client.channel(`user:${ctx.users[i]}:jobs`, { config: { private: true } })
          .on("broadcast", { event: "job" }, ({ payload }) => {
            const at = Date.now();
            const list = arrivals.get(payload.task_id) ?? [];
            list.push({ seq: payload.seq, status: payload.status, at });
            arrivals.set(payload.task_id, list);
          })
          .subscribe((s) => statuses.push(s));
        await waitFor(
          `subscriber ${i}`,
          () => Promise.resolve(statuses.includes("SUBSCRIBED")),
          15_000,
          20,
        );
      }
      await fetch(`${h.stack.tripoUrl}/__sim/reset`, { method: "POST", body: '{"scope":"log"}' })
        .then((r) => r.body?.cancel());
      const tag = `rt${Date.now() % 100000}`;
      const runMsOf = (i: number) => 1000 + ((i * 7919) % 2000);
      const jobs: { i: number; jobId: string; runMs: number }[] = [];
      const start = Date.now();
      const sends: Promise<void>[] = [];
      for (let i = 0; i < JOBS; i++) {
        const wait = start + (i * 1000) / PER_SECOND - Date.now();
        if (wait > 0) await sleep(wait);
        sends.push((async () => {
          const r = await h.post(h.fnUrl(FN), {
            task_id: `${tag}-${i}`,
            prompt: `bench-${tag}-${i} [sim:slow=${runMsOf(i)}]`,
          }, h.authHeaders(i % SUBSCRIBERS));
          if (r.status !== 202) throw new Error(`POST ${i}: ${r.status} ${r.body}`);
          jobs.push({ i, jobId: JSON.parse(r.body).job_id, runMs: runMsOf(i) });
        })());
      }
      await Promise.all(sends);
      const terminal = (id: string) =>
        (arrivals.get(id) ?? []).some((a) => a.status === "complete" || a.status === "failed");
      await waitFor(
        "every terminal event",
        () => Promise.resolve(jobs.every((j) => terminal(j.jobId))),
        90_000,
        50,
      );

      const submitAt = await tripoSubmitTimes(h.stack.tripoUrl, tag);
      const latency: number[] = [];
      const perJob: number[] = [];
      let disordered = 0;
      let notComplete = 0;
      for (const j of jobs) {
        const evs = arrivals.get(j.jobId) ?? [];
        perJob.push(evs.length);
        const seqs = evs.map((e) => e.seq);
        if (seqs.some((s, k) => k > 0 && s <= seqs[k - 1])) disordered++;
        const last = evs[evs.length - 1];
        const sub = submitAt.get(j.i);
        if (!last || last.status !== "complete" || sub === undefined) {
          notComplete++;
          continue;
        }
        latency.push(last.at - (sub + j.runMs));
      }
      const p = (q: number) => percentile(latency, q);
      const flaws = [
        notComplete ? `${notComplete} jobs not ending complete` : "",
        disordered ? `${disordered} jobs with events out of seq order` : "",
      ].filter(Boolean).join("; ");
      ctx.report.row(
        `Tripo task success → terminal Realtime event received (${latency.length} jobs, ${SUBSCRIBERS} subscribers, ${PER_SECOND}/s): p50 / p99`,
        `${fmt(p(50), " ms")} / ${fmt(p(99), " ms")}${flaws ? ` (${flaws})` : ""}`,
        `events per job: median ${fmt(percentile(perJob, 50))}, max ${fmt(Math.max(...perJob))}`,
        "p50 ≤ 500 ms, p99 ≤ 1.5 s",
        p(50) <= 500 && p(99) <= 1500 && !flaws,
      );
      ctx.report.set("realtime_terminal_event", {
        jobs: latency.length,
        p50_ms: round(p(50)),
        p99_ms: round(p(99)),
        events_per_job_p50: percentile(perJob, 50),
        events_per_job_max: Math.max(...perJob),
        out_of_order: disordered,
        not_complete: notComplete,
      });
    } finally {
      for (const c of clients) await c.removeAllChannels().catch(() => {});
    }
  },
};
