// Does claim_jobs' plan cache survive the transaction pooler? claim_jobs runs with
// `set plan_cache_mode = force_generic_plan` and leans on PL/pgSQL's per-session plan cache;
// behind PgBouncer (transaction mode) a client's statements land on whichever server connection
// is free, and server connections are reused across clients, so a server connection's cache
// should outlive any one client. Measured: each round closes the pool's server connections
// (PgBouncer's RECONNECT on its admin console); then ROUND_SAMPLES claims of 8 due jobs, each
// from a NEW client connection to the pooler, each in one statement that also returns
// pg_backend_pid(). A claim on a server pid not seen before is "first on a fresh server
// connection"; the others are later claims on a reused one.
import { type BenchContext, type Section } from "../context.ts";
import { insertTrivialJobs, queueClient } from "../queue.ts";
import { fmt, percentile, round } from "../stats.ts";

const ROUNDS = 15;
const ROUND_SAMPLES = 6;

async function adminConsole(port: number, command: string): Promise<void> {
  const out = await new Deno.Command("psql", {
    args: ["-X", "-q", "-h", "127.0.0.1", "-p", String(port), "-U", "postgres", "-d", "pgbouncer"],
    env: { PGCONNECT_TIMEOUT: "5" },
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const w = out.stdin.getWriter();
  await w.write(new TextEncoder().encode(`${command};\n`));
  await w.close();
  const r = await out.output();
  if (!r.success) throw new Error(`pgbouncer ${command}: ${new TextDecoder().decode(r.stderr)}`);
}

export const planCache: Section = {
  name: "claim plan cache behind the pooler",
  async run(ctx: BenchContext) {
    const s = ctx.main.stack;
    const dbName = decodeURIComponent(new URL(s.poolerUrl).pathname.slice(1));
    await ctx.main.quiesceWorker();
    await ctx.main.pauseWorker();
    await ctx.sql`delete from public.jobs`;
    await ctx.sql`vacuum analyze public.jobs`;
    const fresh: number[] = [];
    const reused: number[] = [];
    const seen = new Set<number>();
    let reusedAcrossClients = 0;
    for (let r = 0; r < ROUNDS; r++) {
      await adminConsole(s.pooler.port, `RECONNECT ${dbName}`);
      let last: number | undefined;
      for (let i = 0; i < ROUND_SAMPLES; i++) {
        await insertTrivialJobs(ctx.sql, ctx.users.slice((i * 8) % 190), 8, `pc-${r}-${i}`);
        const client = queueClient(s.poolerUrl, true);
        try {
          await client`select 1`; // the client's own connection, outside the timing
          const t0 = performance.now();
          const [row] = await client<{ pid: number; n: number }[]>`
            select pg_backend_pid() as pid,
              (select count(*)::int from bff.claim_jobs(8, 60, 1000)) as n`;
          const ms = performance.now() - t0;
          if (row.n !== 8) throw new Error(`claim returned ${row.n} jobs, not 8`);
          if (seen.has(row.pid)) {
            reused.push(ms);
            if (row.pid === last) reusedAcrossClients++;
          } else {
            fresh.push(ms);
            seen.add(row.pid);
          }
          last = row.pid;
        } finally {
          await client.end({ timeout: 5 });
        }
        await ctx.sql`delete from public.jobs`;
      }
    }
    const f50 = percentile(fresh, 50);
    const r50 = percentile(reused, 50);
    ctx.report.info(
      "claim_jobs(8) via pooler: first claim on a fresh server connection vs later (new client " +
        "each), p50 / p99",
      `fresh ${fmt(f50, " ms")} / ${fmt(percentile(fresh, 99), " ms")} (${fresh.length}); ` +
        `later ${fmt(r50, " ms")} / ${fmt(percentile(reused, 99), " ms")} (${reused.length}, ` +
        `${reusedAcrossClients} on the previous client's server connection)`,
      `fresh / later p50 ${fmt(f50 / r50)}×; ${seen.size} server connections`,
      "reported",
    );
    ctx.report.set("claim_plan_cache_ms", {
      fresh: { n: fresh.length, p50: round(f50), p99: round(percentile(fresh, 99)) },
      later: { n: reused.length, p50: round(r50), p99: round(percentile(reused, 99)) },
      later_on_previous_clients_server_connection: reusedAcrossClients,
      server_connections: seen.size,
    });
  },
};
