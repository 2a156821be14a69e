// Cold start: the first request to each of the 7 functions after startStack returns (their
// isolates are booted then), and boot + first request after the isolate is killed (the gateway
// boots a new one on demand).
import { type BenchContext, FN, type Section } from "../context.ts";
import { fmt, median, round } from "../stats.ts";

export const coldStart: Section = {
  name: "cold start",
  async run(ctx: BenchContext) {
    const h = ctx.main;
    const s = h.stack;
    const missing = `${s.url}/storage/v1/object/authenticated/input-assets/${ctx.users[0]}/missing`;
    const send = (fn: string, body: unknown) => h.post(h.fnUrl(fn), body, h.authHeaders());
    const requests: Record<string, () => Promise<{ status: number; ms: number }>> = {
      [FN]: () => send(FN, { task_id: `cold-${crypto.randomUUID()}`, prompt: "cold" }),
      "generate-image-to-image": () =>
        send("generate-image-to-image", {
          task_id: "cold",
          prompt: "cold",
          input_image_asset_url: `${missing}.png`,
        }),
      "generate-image-to-model": () =>
        send("generate-image-to-model", {
          task_id: "cold",
          input_image_asset_urls: [`${missing}.png`],
        }),
      "generate-sketch-to-model": () =>
        send("generate-sketch-to-model", {
          task_id: "cold",
          input_sketch_asset_url: `${missing}.png`,
        }),
      "generate-refine-model": () =>
        send("generate-refine-model", {
          task_id: "cold",
          input_model_asset_url: `${missing}.glb`,
          draft_model_task_id: "not-mine",
        }),
      "task-status": async () => {
        const [j] = await ctx.sql`select id from public.jobs order by created_at limit 1`;
        const started = performance.now();
        const r = await fetch(`${h.fnUrl("task-status")}/${j?.id ?? crypto.randomUUID()}`, {
          headers: h.authHeaders(),
        });
        await r.body?.cancel();
        return { status: r.status, ms: performance.now() - started };
      },
      "process-jobs": () => h.post(h.fnUrl("process-jobs"), {}, h.serviceHeaders()),
    };
    const cold: Record<string, { status: number; first: number; warm: number; boot: number }> = {};
    for (const [name, req] of Object.entries(requests)) {
      const first = await req();
      const warm = await req();
      cold[name] = { status: first.status, first: first.ms, warm: warm.ms, boot: NaN };
    }
    await h.quiesceWorker();
    for (const [name, req] of Object.entries(requests)) {
      await s.functions.get(name)!.kill("SIGKILL");
      cold[name].boot = (await req()).ms;
    }
    await h.quiesceWorker();
    await ctx.cancelOpenJobs();
    ctx.report.set(
      "cold_start",
      Object.fromEntries(
        Object.entries(cold).map(([k, v]) => [k, {
          status: v.status,
          first_ms: round(v.first),
          warm_ms: round(v.warm),
          boot_plus_first_ms: round(v.boot),
        }]),
      ),
    );
    const all = Object.values(cold);
    const first = all.map((v) => v.first);
    const boot = all.map((v) => v.boot);
    const statuses = all.map((v) => v.status).join(", ");
    ctx.report.info(
      "cold start: first request after stack start (7 functions)",
      `median ${fmt(median(first), " ms")}, max ${fmt(Math.max(...first), " ms")}`,
      `warm median ${fmt(median(all.map((v) => v.warm)), " ms")}; statuses ${statuses}`,
    );
    ctx.report.info(
      "cold start: isolate boot + first request",
      `median ${fmt(median(boot), " ms")}, max ${fmt(Math.max(...boot), " ms")}`,
    );
  },
};
