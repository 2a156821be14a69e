// Credits (issue 16): a generation POST with the kind's price set against the same POST with
// every price 0, straight to the function's isolate, at c1 and c32. Every user holds a large
// grant, so a priced POST always reserves (bff.enqueue_job: the balance check, the ledger's
// reserve row and the account it moves) and is never refused. Interleaved: BLOCKS blocks per
// setting, the order alternating, the price switched in SQL between blocks (enqueue_job reads
// it per call, so the same isolate serves both). Then the database work alone through the
// pooler (prepare off): 500 × bff.enqueue_job priced against 500 unpriced, alternating.
import postgres from "postgres";
import { poolOptions } from "../../supabase/functions/_shared/db.ts";
import { type BenchContext, FN, type Section, settings, USERS } from "../context.ts";
import { fmt, percentile, round } from "../stats.ts";

const BLOCKS = 4;
const LEVELS = [1, 32];
const PRICE = 1;
const GRANT = 1_000_000_000;

export const credits: Section = {
  name: "credits: POST with prices set vs unset",
  async run(ctx: BenchContext) {
    const h = ctx.main;
    const url = await h.directUrl(FN);
    const setPrice = (p: number) =>
      ctx.sql`update public.credit_prices set price = ${p} where kind = 'text_to_model'`;
    await ctx.sql`
      insert into public.credit_ledger (user_id, entry, amount, reason, idempotency_key)
      select u, 'grant', ${GRANT}, 'bench', 'bench-credits' from unnest(${ctx.users}::uuid[]) u
      on conflict do nothing`;
    ctx.defer(async () => void await setPrice(0));
    await ctx.fillTripoCap();
    const perBlock = Math.ceil(settings.postRequests / 2 / BLOCKS);
    const modes = ["unset", "set"] as const;
    const out: Record<string, unknown> = {};
    try {
      for (const mode of modes) {
        await setPrice(mode === "set" ? PRICE : 0);
        await ctx.runLoad({ url, requests: 200, concurrency: 8, tokens: h.tokens, prefix: "cw" });
        await ctx.cancelOpenJobs();
      }
      for (const c of LEVELS) {
        const lat = { unset: [] as number[], set: [] as number[] };
        const ratios: number[] = [];
        for (let b = 0; b < BLOCKS; b++) {
          const p50: Record<string, number> = {};
          for (const mode of b % 2 ? [...modes].reverse() : modes) {
            await setPrice(mode === "set" ? PRICE : 0);
            const r = await ctx.runLoad({
              url,
              requests: perBlock,
              concurrency: c,
              tokens: h.tokens,
              prefix: `cr-${mode}-c${c}-b${b}`,
            });
            if ((r.statuses["202"] ?? 0) !== perBlock) {
              throw new Error(`credits ${mode} c${c}: statuses ${JSON.stringify(r.statuses)}`);
            }
            lat[mode].push(...r.latenciesMs);
            p50[mode] = percentile(r.latenciesMs, 50);
            await ctx.cancelOpenJobs();
          }
          ratios.push(round(p50.set / p50.unset));
        }
        const s = { p50: percentile(lat.set, 50), p99: percentile(lat.set, 99) };
        const u = { p50: percentile(lat.unset, 50), p99: percentile(lat.unset, 99) };
        const r50 = s.p50 / u.p50;
        ctx.report.row(
          `POST ${FN} direct, c${c}, credit price set vs unset (${lat.set.length} req each): p50 / p99`,
          `set ${fmt(s.p50, " ms")} / ${fmt(s.p99, " ms")}`,
          `unset ${fmt(u.p50, " ms")} / ${fmt(u.p99, " ms")}; p50 ratio ${fmt(r50)}× ` +
            `(per round: ${ratios.join(", ")})`,
          "p50 ≤ 1.10× unset",
          r50 <= 1.1,
        );
        out[`c${c}`] = {
          set: { p50: round(s.p50), p99: round(s.p99) },
          unset: { p50: round(u.p50), p99: round(u.p99) },
          ratio_p50: round(r50),
          block_ratios_p50: ratios,
        };
      }
    } finally {
      await ctx.clearTripoCap();
      await setPrice(0);
    }

    // The database work alone, as the function sends it. process-jobs is stopped meanwhile.
    await h.pauseWorker();
    const pooled = postgres(h.stack.poolerUrl, poolOptions(1));
    const db = { unset: [] as number[], set: [] as number[] };
    const request = { op: "tripo_task", tripo_type: "text_to_model", params: {}, inputs: [] };
    try {
      // Blocks of 50, the price switched between them (not per call: that would be a write to
      // credit_prices in between).
      for (let b = 0; b < 20; b++) {
        const mode = b % 2 ? "set" : "unset";
        await setPrice(mode === "set" ? PRICE : 0);
        for (let i = 0; i < 50; i++) {
          const id = `crdb-${b}-${i}`;
          const user = ctx.users[(b * 50 + i) % USERS];
          const t = performance.now();
          await pooled`
            select * from bff.enqueue_job(${user}::uuid, 'text_to_model', 'tripo', ${id},
              ${pooled.json(request)}, ${`body:${id}`}, 'h', 'model', 100000, 100000, 1,
              ${pooled.json({ task_id: id, prompt: "db", style: null, metadata: {} })}, 8, 3600)`;
          db[mode].push(performance.now() - t);
        }
      }
    } finally {
      await pooled.end({ timeout: 5 });
      await setPrice(0);
    }
    await ctx.cancelOpenJobs();
    const dbSet = percentile(db.set, 50);
    const dbUnset = percentile(db.unset, 50);
    ctx.report.info(
      "bff.enqueue_job alone through the pooler, price set vs unset: p50",
      `set ${fmt(dbSet, " ms")} (${db.set.length})`,
      `unset ${fmt(dbUnset, " ms")} (${db.unset.length}); ratio ${fmt(dbSet / dbUnset)}×`,
      "diagnostic",
    );
    ctx.report.set("credits", {
      ...out,
      db_only_p50_ms: { set: round(dbSet), unset: round(dbUnset) },
    });
  },
};
