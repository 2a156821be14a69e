// The local transaction pooler (localstack/db/pgbouncer.ts) behaves like Supavisor's transaction
// mode: pooled parameterized queries work with `prepare: false`; session state (SET, LISTEN) does
// not belong to a client; transaction-scoped state does; a killed pooler fails queries rather
// than hanging them, and comes back on the same URL. Each test starts its own pooler in front of
// the run's database server, with a pool small enough that which server connection serves which
// transaction is decided, not left to chance.
import postgres from "postgres";
import assert from "node:assert/strict";
import { type PgBouncer, startPgBouncer } from "../../localstack/db/pgbouncer.ts";
import { PROJECT_ROOT } from "../../localstack/db/prepare.ts";
import { stack } from "../_helpers/stack.ts";
import { within } from "../_helpers/within.ts";

type Sql = ReturnType<typeof postgres>;
const database = () => new URL(stack.dbUrl).pathname.slice(1);

async function withPooler(
  poolSize: number,
  fn: (pgb: PgBouncer, lines: string[]) => Promise<void>,
): Promise<void> {
  const lines: string[] = [];
  const pgb = await startPgBouncer({
    upstreamUrl: stack.dbUrl,
    runDir: `${PROJECT_ROOT}.runs`,
    poolSize,
    log: (l) => lines.push(l),
  });
  try {
    await fn(pgb, lines);
  } finally {
    await pgb.stop();
  }
}

function client(url: string, opts: { max?: number; prepare?: boolean } = {}): Sql {
  return postgres(url, {
    max: opts.max ?? 1,
    prepare: opts.prepare ?? false,
    // As the functions connect (db.ts poolOptions): a statement pipelined behind another can
    // outlive the pooler's link to the server and never be answered.
    max_pipeline: 1,
    connect_timeout: 5,
    idle_timeout: 5,
    onnotice: () => {},
  });
}

/** Bounded wait for a condition (no timing is asserted, only that it happens at all). */
async function until(what: string, cond: () => boolean | Promise<boolean>, tries = 200) {
  for (let i = 0; i < tries; i++) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`gave up waiting for ${what}`);
}

/** Opens a transaction on `sql` and keeps it (and so its server connection) until released. */
async function holdTransaction(sql: Sql): Promise<{ pid: number; release: () => Promise<void> }> {
  let release!: () => void;
  const held = new Promise<void>((r) => release = r);
  let pid!: number;
  let begun!: () => void;
  const started = new Promise<void>((r) => begun = r);
  const tx = sql.begin(async (t) => {
    pid = (await t`select pg_backend_pid() as pid`)[0].pid;
    begun();
    await held;
  });
  await Promise.race([started, tx]);
  return {
    pid,
    release: async () => {
      release();
      await tx;
    },
  };
}

Deno.test("pooler: many parameterized queries from several clients share a few server connections", async () => {
  await withPooler(3, async (pgb) => {
    const clients = Array.from({ length: 4 }, () => client(pgb.url(database()), { max: 4 }));
    try {
      const rows = await Promise.all(
        Array.from({ length: 400 }, (_, i) =>
          clients[i % 4]`
            select ${i}::int as i, ${"s" + i}::text as s, ${[i, i + 1]}::int[] as arr,
                   ${clients[0].json({ k: i })}::jsonb as j, pg_backend_pid() as pid`.then((r) =>
            r[0]
          )),
      );
      rows.forEach((r, i) => {
        assert.deepEqual([r.i, r.s, r.arr, r.j], [i, `s${i}`, [i, i + 1], { k: i }]);
      });
      // 16 client connections, at most 3 server connections behind them.
      const pids = new Set(rows.map((r) => r.pid));
      assert.ok(pids.size >= 1 && pids.size <= 3, `server backends used: ${pids.size}`);
    } finally {
      await Promise.all(clients.map((c) => c.end({ timeout: 5 })));
    }
  });
});

Deno.test("pooler: a session SET leaks to the next client of its server and is gone for its own next transaction", async () => {
  // One server connection: whatever A sets with plain SET, B (another client) finds there.
  await withPooler(1, async (pgb) => {
    const a = client(pgb.url(database()));
    const b = client(pgb.url(database()));
    try {
      await a`set makeit3d.probe = 'from-a'`;
      const [r] = await b`select current_setting('makeit3d.probe', true) as v`;
      assert.equal(r.v, "from-a", "B sees A's session setting: state belongs to the server");
    } finally {
      await Promise.all([a.end(), b.end()]);
    }
  });
  // Two server connections: B holds the one A set it on, so A's next transaction runs on the
  // other one and A's own setting is not there.
  await withPooler(2, async (pgb) => {
    const a = client(pgb.url(database()));
    const b = client(pgb.url(database()));
    try {
      // One simple-protocol call (one transaction): the SET and the pid of the server it ran on.
      const set = (await a.unsafe("set makeit3d.probe = 'from-a'; select pg_backend_pid() as pid"))
        .flat();
      const holder = await holdTransaction(b);
      try {
        assert.equal(holder.pid, set[0].pid, "precondition: B holds A's server connection");
        const [r] = await a`select current_setting('makeit3d.probe', true) as v,
                                   pg_backend_pid() as pid`;
        assert.notEqual(r.pid, set[0].pid);
        assert.equal(r.v, null, "A's own SET did not survive into its next transaction");
      } finally {
        await holder.release();
      }
    } finally {
      await Promise.all([a.end(), b.end()]);
    }
  });
});

Deno.test("pooler: LISTEN does not deliver notifications, and its registration lands on another client's session", async () => {
  await withPooler(1, async (pgb, lines) => {
    const channel = `makeit3d_pgb_${crypto.randomUUID().slice(0, 8)}`;
    const direct = client(stack.dbUrl, { max: 2 });
    const pooled = client(pgb.url(database()));
    const other = client(pgb.url(database()));
    const viaPooler: string[] = [];
    const viaDirect: string[] = [];
    try {
      await pooled.listen(channel, (p) => viaPooler.push(p));
      await direct.listen(channel, (p) => viaDirect.push(p));
      // The LISTEN ran on the pool's only server connection, which now serves `other`.
      const [r] = await other`select pg_listening_channels()::text as c`;
      assert.equal(r.c, channel);
      await direct`select pg_notify(${channel}, 'hello')`;
      await until("the direct listener's notification", () => viaDirect.length === 1);
      // PgBouncer receives it on a server connection no client is linked to, and drops it.
      await until(
        "pgbouncer to drop the notification",
        () => lines.some((l) => l.includes("got packet 'A' from server when not linked")),
      );
      assert.deepEqual(viaDirect, ["hello"]);
      assert.deepEqual(viaPooler, [], "no notification reached the pooled listener");
    } finally {
      await Promise.all([direct.end(), pooled.end(), other.end()]);
    }
  });
});

Deno.test("pooler: SET LOCAL and transaction-scoped advisory locks work inside one transaction", async () => {
  await withPooler(2, async (pgb) => {
    const a = client(pgb.url(database()));
    const b = client(pgb.url(database()));
    const key = 0x5eed_0000 + Math.floor(Math.random() * 0xffff);
    try {
      await a.begin(async (tx) => {
        await tx`set local makeit3d.tx_probe = 'inside'`;
        const [r] = await tx`select current_setting('makeit3d.tx_probe', true) as v`;
        assert.equal(r.v, "inside");
        await tx`select pg_advisory_xact_lock(${key}::bigint)`;
        const [other] = await b`select pg_try_advisory_xact_lock(${key}::bigint) as got`;
        assert.equal(other.got, false, "another client cannot take the lock while A holds it");
      });
      const [after] = await a`select current_setting('makeit3d.tx_probe', true) as v`;
      assert.ok(!after.v, `SET LOCAL ended with its transaction (got ${after.v})`);
      const [free] = await b`select pg_try_advisory_xact_lock(${key}::bigint) as got`;
      assert.equal(free.got, true, "the lock ended with A's transaction");
      // One multi-statement call is one transaction too.
      const res = await a.unsafe(
        "begin; set local makeit3d.tx_probe = 'one-call'; " +
          "select current_setting('makeit3d.tx_probe') as v; commit",
      );
      assert.deepEqual(res.flat().map((r) => r.v), ["one-call"]);
    } finally {
      await Promise.all([a.end(), b.end()]);
    }
  });
});

Deno.test("pooler: kill() fails in-flight queries with an error, start() brings it back on the same URL", async () => {
  await withPooler(2, async (pgb) => {
    const url = pgb.url(database());
    const port = pgb.port;
    const c = client(url, { max: 2 });
    const direct = client(stack.dbUrl);
    const tag = `pgb-kill-${crypto.randomUUID().slice(0, 8)}`;
    try {
      assert.equal((await c`select 1 as one`)[0].one, 1);
      // postgres.js sends a query only once it is awaited or executed. The outcome is taken at
      // once: the rejection arrives while kill() is still waiting, and must not go unhandled.
      const inflight = c.unsafe(`select pg_sleep(30) /* ${tag} */`).execute()
        .then(() => "succeeded", (e: unknown) => e);
      await until(
        "the query to reach the server",
        async () =>
          (await direct`select 1 from pg_stat_activity
                        where query like ${"%" + tag + "%"} and pid <> pg_backend_pid()`)
            .length === 1,
      );
      await pgb.kill();
      const cut = await within(inflight, 10_000);
      assert.ok(cut !== "timeout" && cut.ok, "the in-flight query hung after the pooler died");
      assert.ok(cut.value instanceof Error, `the in-flight query ended with ${cut.value}`);
      const down = await within(c`select 1`, 10_000);
      assert.ok(down !== "timeout" && !down.ok, "a query while the pooler is down fails");
      // A pid file naming a live process (ours) must not keep the pooler from starting.
      await Deno.writeTextFile(`${pgb.dir}/pgbouncer.pid`, `${Deno.pid}\n`);
      await pgb.start();
      assert.equal(pgb.port, port);
      assert.equal(pgb.url(database()), url);
      assert.equal((await c`select 2 as two`)[0].two, 2, "the same client reconnects");
    } finally {
      await direct`select pg_terminate_backend(pid) from pg_stat_activity
                   where query like ${"%" + tag + "%"} and pid <> pg_backend_pid()`;
      await Promise.all([c.end({ timeout: 1 }), direct.end()]);
    }
    await pgb.stop();
    const log = await Deno.readTextFile(`${pgb.dir}/pgbouncer.log`);
    assert.ok(log.includes("process up"), "stop() leaves the pooler's log in its directory");
  });
});

// Every function connects with `prepare: false`, as postgres.js documents for a transaction
// pooler without prepared-statement support: the next transaction may run on a server connection
// that never saw a statement prepared on another. (postgres.js 3.4.9 with its default hung here;
// 4.x re-prepares on the error outside a transaction, which is not the functions' contract.)
async function preparedAfterServerSwitch(prepare: boolean) {
  let outcome: Awaited<ReturnType<typeof within>> | undefined;
  await withPooler(2, async (pgb) => {
    const a = client(pgb.url(database()), { prepare });
    const b = client(pgb.url(database()));
    try {
      // The same statement text each time, so postgres.js reuses its named statement.
      const query = (x: number) => a`select ${x}::int as x, pg_backend_pid() as pid`;
      const [first] = await query(1);
      const holder = await holdTransaction(b);
      try {
        assert.equal(holder.pid, first.pid, "precondition: B holds the server A prepared on");
        outcome = await within(
          Promise.all([2, 3].map((x) => query(x).then((r) => r[0].x))),
          5000,
        );
      } finally {
        await holder.release();
      }
    } finally {
      await Promise.all([a.end({ timeout: 0 }), b.end()]);
    }
  });
  return outcome!;
}

Deno.test("pooler: postgres.js with prepare: false survives a change of server connection", async () => {
  const outcome = await preparedAfterServerSwitch(false);
  assert.ok(outcome !== "timeout" && outcome.ok, `outcome: ${JSON.stringify(outcome)}`);
  assert.deepEqual(outcome.value, [2, 3]);
});

Deno.test("pooler: a start prunes directories of poolers gone for a day, and only those", async () => {
  const runDir = await Deno.makeTempDir({ prefix: "makeit3d-pgb-prune-" });
  await Deno.chmod(runDir, 0o755);
  const dayAgo = Date.now() - 25 * 3600_000;
  const dirs = {
    oldGone: `${runDir}/pgbouncer-${dayAgo}-0ld90ne0`,
    oldLive: `${runDir}/pgbouncer-${dayAgo}-0ld1ive0`,
    recent: `${runDir}/pgbouncer-${Date.now() - 60_000}-recent00`,
    other: `${runDir}/storage-something`,
  };
  try {
    for (const d of Object.values(dirs)) await Deno.mkdir(d);
    await Deno.writeTextFile(`${dirs.oldGone}/pgbouncer.pid`, "999999999\n");
    await Deno.writeTextFile(`${dirs.oldLive}/pgbouncer.pid`, `${Deno.pid}\n`);
    const pgb = await startPgBouncer({ upstreamUrl: stack.dbUrl, runDir });
    await pgb.stop();
    const exists = (p: string) => Deno.stat(p).then(() => true, () => false);
    assert.deepEqual(
      {
        oldGone: await exists(dirs.oldGone),
        oldLive: await exists(dirs.oldLive),
        recent: await exists(dirs.recent),
        other: await exists(dirs.other),
        own: await exists(pgb.dir),
      },
      { oldGone: false, oldLive: true, recent: true, other: true, own: true },
    );
  } finally {
    await Deno.remove(runDir, { recursive: true });
  }
});

// Only root runs PgBouncer as another OS user; anyone else runs it as themselves.
Deno.test({
  name: "a run directory the postgres user cannot reach: the pooler's files go to the temp folder",
  ignore: Deno.uid() !== 0,
  fn: async () => {
    const closed = await Deno.makeTempDir({ prefix: "closed-" }); // mode 0700, owned by root
    const lines: string[] = [];
    try {
      const pgb = await startPgBouncer({
        upstreamUrl: stack.dbUrl,
        runDir: `${closed}/.runs`,
        poolSize: 1,
        log: (l) => lines.push(l),
      });
      try {
        assert.ok(!pgb.dir.startsWith(closed), `the pooler's directory ${pgb.dir} is elsewhere`);
        assert.ok(lines.some((l) => l.includes("cannot write") && l.includes("instead")));
        const sql = client(pgb.url(database()));
        try {
          const [r] = await sql`select ${"pooled"}::text as v`;
          assert.equal(r.v, "pooled");
        } finally {
          await sql.end({ timeout: 1 });
        }
      } finally {
        await pgb.stop();
      }
      // Nothing half-made is left where the postgres user could not go.
      const left = [];
      for await (const e of Deno.readDir(`${closed}/.runs`)) left.push(e.name);
      assert.deepEqual(left, []);
    } finally {
      await Deno.remove(closed, { recursive: true });
    }
  },
});
