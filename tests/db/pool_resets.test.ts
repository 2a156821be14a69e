// The functions' database pool (db.ts poolOptions, through a transaction-mode pooler) when the
// pooler's server connections are cut again and again mid-statement: every query settles (an
// answer or an error), and once the cuts stop the pool answers at once. postgres.js 3.4.9 failed
// this every time: after a few cuts every query of the pool hung forever, no error, no timeout,
// and process-jobs with it (seen in the chaos suite: jobs left waiting minutes after the last
// cut). Plain queries, parameterized ones and pairs sent at once, as the functions and the
// stand-ins send them.
import postgres from "postgres";
import assert from "node:assert/strict";
import { startPgBouncer } from "../../localstack/db/pgbouncer.ts";
import { PROJECT_ROOT } from "../../localstack/db/prepare.ts";
import { poolOptions } from "../../supabase/functions/_shared/db.ts";
import { stack } from "../_helpers/stack.ts";
import { within } from "../_helpers/within.ts";

const APP = "pool-resets-test";
/** A query that has not settled after this long is taken as hung (the statements take ~20 ms). */
const HUNG_MS = 12_000;

/** "ok", the error's code, or "hung" when it has not settled after HUNG_MS. */
async function outcome(p: Promise<unknown>): Promise<string> {
  const r = await within(p, HUNG_MS);
  if (r === "timeout") return "hung";
  if (r.ok) return "ok";
  const e = r.error as { code?: unknown; message?: unknown } | undefined;
  return String(e?.code ?? e?.message ?? e);
}

const count = (xs: string[]) =>
  xs.reduce<Record<string, number>>((m, x) => (m[x] = (m[x] ?? 0) + 1, m), {});

Deno.test("db pool: server connections cut mid-statement again and again; every query settles, then the pool answers at once", async () => {
  const pgb = await startPgBouncer({
    upstreamUrl: stack.dbUrl,
    runDir: `${PROJECT_ROOT}.runs`,
    poolSize: 20,
    log: () => {},
  });
  const database = new URL(stack.dbUrl).pathname.slice(1);
  const admin = postgres(stack.dbUrl, { max: 1, onnotice: () => {} });
  const sql = postgres(pgb.url(database), {
    ...poolOptions(4),
    connection: { application_name: APP },
  });
  try {
    let stop = false;
    let cut = 0;
    const killer = (async () => {
      for (let i = 0; i < 80 && !stop; i++) {
        const r = await admin`
          select pg_terminate_backend(pid) as ok from pg_stat_activity
          where datname = ${database} and application_name = ${APP} and state <> 'idle'`;
        cut += r.length;
        await new Promise((r) => setTimeout(r, 30 + (i % 5) * 25));
      }
    })();
    const during: string[] = [];
    await Promise.all(Array.from({ length: 12 }, async (_, k) => {
      const until = performance.now() + 3_000;
      while (performance.now() < until) {
        const q = k % 3 === 0
          ? sql.unsafe(`select pg_sleep(0.02), ${k} as k`)
          : k % 3 === 1
          ? sql`select ${k}::int as k, pg_sleep(0.01)`
          : Promise.all([sql.unsafe("select 1"), sql.unsafe("select 2")]);
        const o = await outcome(q);
        during.push(o);
        if (o === "hung") return;
      }
    }));
    stop = true;
    await killer;
    const after = await Promise.all(
      Array.from({ length: 20 }, (_, i) => outcome(sql.unsafe(`select ${i} as i`))),
    );
    const summary = `cut ${cut}; during ${JSON.stringify(count(during))}; after ${
      JSON.stringify(count(after))
    }`;
    console.log(`POOL_RESETS ${summary}`);
    assert.ok(cut > 0, `no statement was cut: the test exercised nothing (${summary})`);
    assert.ok(!during.includes("hung"), `a query never settled while cuts went on: ${summary}`);
    assert.deepEqual(count(after), { ok: 20 }, `the pool did not recover: ${summary}`);
  } finally {
    await sql.end({ timeout: 1 }).catch(() => {});
    await admin.end({ timeout: 1 }).catch(() => {});
    await pgb.stop();
  }
});
