// POST latency: the generation function against the floor (bench/floor_server.ts), at c1 and
// c32, each straight to its isolate and through the gateway. The floor runs as a function of
// the same stack (same runtime, gateway and pooler: what it would be on the platform); the bare
// floor, the same code as a plain process outside the runtime, is measured beside them for
// reference. Interleaved: each target gets BLOCKS blocks of the requests, in a rotating order,
// so a slow spell of the shared machine lands on all of them. The Tripo cap is filled
// (ctx.fillTripoCap), so the jobs wait in the queue while the wake-up → process-jobs → claim
// path stays live. Functions remember the tokens they verified (auth.ts), as an app sends the
// same access token for an hour; the floor verifies every request. A diagnostic target sends the
// function direct a token it has never seen on every request: the floor's case.
import { type BenchContext, FLOOR_FN, FN, type Section, settings } from "../context.ts";
import { mapRound } from "../report.ts";
import { fmt, percentile, round } from "../stats.ts";

const BLOCKS = 4;
const LEVELS = [1, 32];

interface Lat {
  p50: number;
  p99: number;
  rps: number;
  non202: number;
  blockRatios: number[];
}

export const postLatency: Section = {
  name: "POST latency (floor, direct, gateway; c1 and c32)",
  async run(ctx: BenchContext) {
    const h = ctx.main;
    const targets = {
      floor: await h.directUrl(FLOOR_FN),
      floor_gateway: h.fnUrl(FLOOR_FN),
      floor_bare: await ctx.floorUrl(),
      direct: await h.directUrl(FN),
      gateway: h.fnUrl(FN),
      direct_first_use: await h.directUrl(FN),
    };
    // Each of the function's targets against the floor served the same way.
    const refOf = { direct: "floor", gateway: "floor_gateway", direct_first_use: "floor" } as const;
    await ctx.fillTripoCap();
    for (const [name, url] of Object.entries(targets)) {
      await ctx.runLoad({
        url,
        requests: 300,
        concurrency: 8,
        tokens: h.tokens,
        prefix: `w-${name}`,
      });
    }
    await ctx.cancelOpenJobs();
    const names = Object.keys(targets) as (keyof typeof targets)[];
    const perBlock = Math.ceil(settings.postRequests / BLOCKS);
    const lat: Record<string, Record<string, Lat>> = Object.fromEntries(
      names.map((n) => [n, {}]),
    );
    for (const c of LEVELS) {
      const all = Object.fromEntries(
        names.map((n) => [n, { lat: [] as number[], wallMs: 0, non202: 0, p50s: [] as number[] }]),
      );
      for (let b = 0; b < BLOCKS; b++) {
        for (const name of names.map((_, i) => names[(i + b) % names.length])) {
          const r = await ctx.runLoad({
            url: targets[name],
            requests: perBlock,
            concurrency: c,
            tokens: name === "direct_first_use" ? await h.freshTokens(perBlock) : h.tokens,
            prefix: `${name}-c${c}-b${b}`,
          });
          const non202 = perBlock - (r.statuses["202"] ?? 0);
          if (non202 > 0) ctx.say(`${name} c${c}: statuses ${JSON.stringify(r.statuses)}`);
          all[name].lat.push(...r.latenciesMs);
          all[name].wallMs += r.wallMs;
          all[name].non202 += non202;
          all[name].p50s.push(percentile(r.latenciesMs, 50));
          await ctx.cancelOpenJobs();
        }
      }
      for (const name of names) {
        const a = all[name];
        const ref = all[refOf[name as keyof typeof refOf] ?? "floor"];
        lat[name][`c${c}`] = {
          p50: percentile(a.lat, 50),
          p99: percentile(a.lat, 99),
          rps: a.lat.length / (a.wallMs / 1000),
          non202: a.non202,
          blockRatios: a.p50s.map((v, i) => round(v / ref.p50s[i])),
        };
      }
    }
    await ctx.clearTripoCap();
    const out: Record<string, unknown> = {};
    for (const c of LEVELS.map((l) => `c${l}`)) {
      for (const name of ["direct", "gateway"] as const) {
        const m = lat[name][c];
        const f = lat[refOf[name]][c];
        const r50 = m.p50 / f.p50;
        const r99 = m.p99 / f.p99;
        ctx.report.row(
          `POST ${FN} ${name}, ${c} (${settings.postRequests} req): p50 / p99, req/s`,
          `${fmt(m.p50, " ms")} / ${fmt(m.p99, " ms")}, ${fmt(m.rps)} req/s` +
            (m.non202 ? ` (${m.non202} non-202)` : ""),
          `floor function ${name} ${fmt(f.p50, " ms")} / ${fmt(f.p99, " ms")}, ${
            fmt(f.rps)
          } req/s; ratio ${fmt(r50)}× / ${fmt(r99)}× (p50 ratio per round: ${
            m.blockRatios.join(", ")
          })`,
          "p50 ≤ 1.5×, p99 ≤ 3× floor",
          r50 <= 1.5 && r99 <= 3 && m.non202 === 0 && f.non202 === 0,
        );
      }
      const fu = lat.direct_first_use[c];
      ctx.report.info(
        `POST ${FN} direct, ${c}, every request with a token the function has not verified before: p50 / p99`,
        `${fmt(fu.p50, " ms")} / ${fmt(fu.p99, " ms")}, ${fmt(fu.rps)} req/s`,
        `ratio to the floor function direct ${fmt(fu.p50 / lat.floor[c].p50)}× / ${
          fmt(fu.p99 / lat.floor[c].p99)
        }× (p50 per round: ${fu.blockRatios.join(", ")})`,
        "diagnostic",
      );
      const bare = lat.floor_bare[c];
      const fd = lat.floor[c];
      ctx.report.row(
        `POST floor as a bare process, ${c}: p50 / p99, req/s`,
        `${fmt(bare.p50, " ms")} / ${fmt(bare.p99, " ms")}, ${fmt(bare.rps)} req/s`,
        `the floor as a function, direct: ${fmt(fd.p50, " ms")} / ${fmt(fd.p99, " ms")} (${
          fmt(fd.p50 / bare.p50)
        }× / ${fmt(fd.p99 / bare.p99)}× the bare process: the runtime's share); the function ` +
          `direct against the bare floor ${fmt(lat.direct[c].p50 / bare.p50)}× p50`,
        "reference",
        null,
      );
      const plain = ({ blockRatios: _, ...rest }: Lat) => mapRound(rest);
      out[c] = {
        ...Object.fromEntries(names.map((n) => [n, plain(lat[n][c])])),
        direct_block_ratios_p50: lat.direct[c].blockRatios,
        gateway_block_ratios_p50: lat.gateway[c].blockRatios,
        direct_ratio_p50: round(lat.direct[c].p50 / lat.floor[c].p50),
        direct_ratio_p99: round(lat.direct[c].p99 / lat.floor[c].p99),
        gateway_ratio_p50: round(lat.gateway[c].p50 / lat.floor_gateway[c].p50),
        gateway_ratio_p99: round(lat.gateway[c].p99 / lat.floor_gateway[c].p99),
        direct_first_use_ratio_p50: round(lat.direct_first_use[c].p50 / lat.floor[c].p50),
        direct_ratio_p50_bare_floor: round(lat.direct[c].p50 / lat.floor_bare[c].p50),
      };
    }
    ctx.report.set("post_latency", out);
  },
};
