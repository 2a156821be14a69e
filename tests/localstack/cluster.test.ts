// The private PostgreSQL 15 cluster (localstack/db/cluster.ts) that the stack runs where no
// server answers at 127.0.0.1:5432. This machine has one, so the test drives the cluster
// directly in a throwaway directory: initdb, start on a free port, reuse while running, stop,
// start again with the data kept. It needs postgresql-15 present and installs nothing.
import postgres from "postgres";
import assert from "node:assert/strict";
import {
  DatabaseUrlError,
  maskUrl,
  probe,
  resolveAdminUrl,
  startPrivateCluster,
} from "../../localstack/db/cluster.ts";
import { withDatabase } from "../../localstack/db/prepare.ts";
import { asPostgres, dirForPostgres, isRoot, SetupError } from "../../localstack/db/system.ts";

function closedPort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** The pid of `sleep` itself: runuser, when we are root, forks it as a child of its own. */
async function waitForChild(pid: number): Promise<number> {
  for (let i = 0; i < 100; i++) {
    const comm = await Deno.readTextFile(`/proc/${pid}/comm`).catch(() => "");
    if (comm.trim() === "sleep") return pid;
    const kids = await Deno.readTextFile(`/proc/${pid}/task/${pid}/children`).catch(() => "");
    const kid = Number(kids.trim().split(" ")[0]);
    if (kid) return await waitForChild(kid);
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error("the stand-in process did not start");
}

async function one<T>(url: string, fn: (sql: ReturnType<typeof postgres>) => Promise<T>) {
  const sql = postgres(url, { max: 1, onnotice: () => {}, connect_timeout: 10 });
  try {
    return await fn(sql);
  } finally {
    await sql.end({ timeout: 5 });
  }
}

Deno.test("private cluster: initdb, start, reuse while running, stop, restart with its data", async () => {
  const root = await Deno.makeTempDir({ prefix: "makeit3d-pg15-test-" });
  // makeTempDir is 0700; the postgres OS user must reach the cluster directory inside it.
  await Deno.chmod(root, 0o755);
  const dir = `${root}/pg15`;
  const lines: string[] = [];
  let first: Awaited<ReturnType<typeof startPrivateCluster>> | undefined;
  let again: Awaited<ReturnType<typeof startPrivateCluster>> | undefined;
  let squatter: Deno.ChildProcess | undefined;
  let squatterPid = 0;
  try {
    first = await startPrivateCluster({ dir, log: (l) => lines.push(l) });
    assert.equal(first.startedHere, true);
    assert.ok(lines.some((l) => l.includes("initdb")), "a new directory is initialised");
    const settings = await one(first.adminUrl, async (sql) => {
      await sql`create database cluster_probe`;
      return (await sql`select current_setting('server_version_num')::int / 10000 as major,
        current_setting('max_connections')::int as max_connections,
        current_setting('wal_level') as wal_level, current_user as usr,
        pg_encoding_to_char(encoding) as enc
        from pg_database where datname = current_database()`)[0];
    });
    assert.deepEqual(
      { ...settings, max_connections: settings.max_connections >= 200 },
      { major: 15, max_connections: true, wal_level: "logical", usr: "postgres", enc: "UTF8" },
    );
    assert.equal(
      (await one(withDatabase(first.adminUrl, "cluster_probe"), (sql) => sql`select 1 as x`))[0].x,
      1,
    );

    // A second start while it runs attaches to it and will not stop it.
    const attached = await startPrivateCluster({ dir });
    assert.equal(attached.startedHere, false);
    assert.equal(attached.port, first.port);
    await attached.stop();
    assert.equal(await probe(first.adminUrl), null, "stop() of a non-owner leaves it running");

    await first.stop();
    assert.notEqual(await probe(first.adminUrl), null, "the owner's stop() stops it");

    // A pid file left by a crash, naming a live process of the postgres OS user that is not
    // postgres (its pid reused), would make postgres refuse to start; the stale file is removed.
    // Then: no initdb this time, and the database is still there.
    const [cmd, args] = asPostgres("sleep", ["60"]);
    squatter = new Deno.Command(cmd, { args, stdout: "null", stderr: "null" }).spawn();
    squatterPid = await waitForChild(squatter.pid);
    const pid = squatterPid;
    await Deno.writeTextFile(`${dir}/data/postmaster.pid`, `${pid}\n${dir}/data\n0\n1\n`);
    lines.length = 0;
    again = await startPrivateCluster({ dir, log: (l) => lines.push(l) });
    assert.equal(again.startedHere, true);
    assert.ok(!lines.some((l) => l.includes("initdb")), "an initialised directory is reused");
    const dbs = await one(
      again.adminUrl,
      (sql) => sql`select datname from pg_database where datname = 'cluster_probe'`,
    );
    assert.equal(dbs.length, 1);

    // Nothing at the default URL: resolveAdminUrl falls back to the private cluster (here the
    // one already running in this directory).
    const closed = `postgres://postgres@127.0.0.1:${closedPort()}/postgres`;
    const fallback = await resolveAdminUrl({ env: {}, defaultUrl: closed, runDir: root });
    assert.deepEqual([fallback.adminUrl, fallback.private], [again.adminUrl, true]);
    const answered = await resolveAdminUrl({ env: {}, defaultUrl: again.adminUrl, runDir: root });
    assert.deepEqual([answered.adminUrl, answered.private], [again.adminUrl, false]);

    // A given SUPABASE_DB_URL that answers is the admin URL, as given.
    const given = await resolveAdminUrl({ env: { SUPABASE_DB_URL: again.adminUrl } });
    assert.deepEqual([given.adminUrl, given.private], [again.adminUrl, false]);
  } finally {
    await first?.stop().catch(() => {});
    await again?.stop().catch(() => {});
    if (squatter) {
      // The sleep itself (runuser does not pass SIGKILL on), then runuser ends with it.
      for (const p of [squatterPid, squatter.pid]) {
        try {
          if (p) Deno.kill(p, "SIGKILL");
        } catch { /* gone */ }
      }
      await squatter.status;
    }
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("resolveAdminUrl: an unreachable SUPABASE_DB_URL is one sentence, password masked", async () => {
  const port = closedPort();
  const url = `postgres://someone:hunter2-secret@127.0.0.1:${port}/app`;
  const err = await resolveAdminUrl({ env: { SUPABASE_DB_URL: url } }).then(
    () => assert.fail("resolved an unreachable URL"),
    (e) => e,
  );
  assert.ok(err instanceof DatabaseUrlError);
  assert.equal(
    err.message,
    `SUPABASE_DB_URL (postgres://someone:***@127.0.0.1:${port}/app): connection refused`,
  );
  assert.equal(maskUrl("postgres://u@h:1/d"), "postgres://u@h:1/d");
  assert.equal(maskUrl("::not a url"), "<not a valid URL>");
});

// Only root can hand a directory to the postgres OS user; anyone else runs servers as themselves.
Deno.test({
  name: "dirForPostgres: a directory behind a parent closed to the postgres user is a SetupError",
  ignore: !isRoot(),
  fn: async () => {
    const closed = await Deno.makeTempDir({ prefix: "closed-" }); // mode 0700, owned by root
    try {
      const dir = `${closed}/pgbouncer`;
      const err = await dirForPostgres(dir).then(
        () => assert.fail("accepted a directory the postgres user cannot reach"),
        (e) => e,
      );
      assert.ok(err instanceof SetupError);
      assert.match(err.message, new RegExp(`the postgres OS user cannot write ${dir} `));
      // Opened up, the same call succeeds and the directory is the postgres user's.
      await Deno.chmod(closed, 0o755);
      await dirForPostgres(dir);
      assert.notEqual((await Deno.stat(dir)).uid, 0);
    } finally {
      await Deno.remove(closed, { recursive: true });
    }
  },
});
