// storage_standin.exec_as (localstack/db/bootstrap/20_storage.sql), the one statement the Storage
// stand-in runs a caller's SQL through: RLS decides inside it, and neither the role nor the
// claims outlive it on the connection, whether the statement succeeded, failed, or ran inside a
// transaction block. One connection (max 1), so "the next statement" is on the same backend.
import assert from "node:assert/strict";
import postgres from "postgres";
import { stack } from "../_helpers/stack.ts";

const A = crypto.randomUUID();
const B = crypto.randomUUID();
const claims = (sub: string | null, role = "authenticated") => sub ? { sub, role } : { role };

function connect() {
  return postgres(stack.dbUrl, {
    max: 1,
    onnotice: () => {},
    connection: { application_name: "exec-as-test" },
  });
}

type Sql = ReturnType<typeof connect>;

function execAs(sql: Sql, role: string, c: object, text: string, args: string[], mode = "rows") {
  return sql<{ r: Record<string, unknown> }[]>`
    select r from storage_standin.exec_as(${role}, ${sql.json(c as postgres.JSONValue)},
      ${text}, ${args}::text[], ${mode}) as r`;
}

async function session(sql: Sql) {
  const [s] = await sql<
    { pid: number; user: string; claims: string | null; sub: string | null; role: string | null }[]
  >`
    select pg_backend_pid() as pid, current_user as user,
           nullif(current_setting('request.jwt.claims', true), '') as claims,
           nullif(current_setting('request.jwt.claim.sub', true), '') as sub,
           nullif(current_setting('request.jwt.claim.role', true), '') as role`;
  return s;
}

const clean = (pid: number) => ({ pid, user: "postgres", claims: null, sub: null, role: null });

Deno.test("exec_as: RLS decides inside it", async () => {
  const sql = connect();
  try {
    const name = `${A}/exec-as.png`;
    await sql`insert into storage.objects (bucket_id, name, owner, version)
              values ('input-assets', ${name}, ${A}, ${crypto.randomUUID()})`;
    const count = "select count(*)::int as n from storage.objects where name = $1[1]";
    const seen = async (role: string, sub: string | null) =>
      (await execAs(sql, role, claims(sub, role), count, [name]))[0].r.n;
    assert.equal(await seen("authenticated", A), 1, "the owner sees their object");
    assert.equal(await seen("authenticated", B), 0, "another user does not");
    assert.equal(await seen("anon", null), 0, "anon does not");
    assert.equal(await seen("service_role", null), 1, "the service role bypasses RLS");
    const [me] = await execAs(
      sql,
      "authenticated",
      claims(A),
      "select current_user as u, auth.uid() as uid, auth.role() as role",
      [],
    );
    assert.deepEqual(me.r, { u: "authenticated", uid: A, role: "authenticated" });

    const insert = "insert into storage.objects (bucket_id, name, owner) " +
      "values ('input-assets', $1[1], $1[2]::uuid)";
    await assert.rejects(
      execAs(sql, "authenticated", claims(B), insert, [`${A}/by-b.png`, B], "exec"),
      (e: { code?: string }) => e.code === "42501",
      "B may not write into A's folder",
    );
    // A probe says "allowed" by not failing, and leaves nothing behind.
    await execAs(sql, "authenticated", claims(A), insert, [`${A}/probe.png`, A], "probe");
    const left = await sql`select 1 from storage.objects where name = ${`${A}/probe.png`}`;
    assert.equal(left.length, 0);
    await assert.rejects(
      execAs(sql, "postgres", {}, "select 1", []),
      (e: { code?: string }) => e.code === "22023",
      "only the API roles",
    );
    await sql`delete from storage.objects where name = ${name}`;
  } finally {
    await sql.end({ timeout: 2 });
  }
});

Deno.test("exec_as: the role and claims do not reach the next statement", async () => {
  const sql = connect();
  try {
    const { pid } = await session(sql);
    assert.deepEqual(await session(sql), clean(pid));

    await execAs(sql, "authenticated", claims(A), "select 1 as one", []);
    assert.deepEqual(await session(sql), clean(pid), "after a statement that succeeded");

    await assert.rejects(execAs(sql, "anon", claims(null, "anon"), "select 1 / 0", []));
    assert.deepEqual(await session(sql), clean(pid), "after one that failed");

    await execAs(sql, "authenticated", claims(A), "select 1", [], "exec");
    await execAs(sql, "authenticated", claims(A), "select 1", [], "probe");
    assert.deepEqual(await session(sql), clean(pid), "after exec and probe");

    // Even inside a transaction block (which the stand-in never opens), the role is reset
    // before exec_as returns rather than at commit.
    const results = await sql.unsafe(`
      begin;
      select r from storage_standin.exec_as('authenticated', '{"sub": "${A}"}',
        'select current_user as u', '{}') as r;
      select current_user as u, nullif(current_setting('request.jwt.claim.sub', true), '') as sub;
      commit;`) as unknown as { u?: string; sub?: string | null; r?: { u: string } }[][];
    assert.deepEqual(results[1][0].r, { u: "authenticated" }, "inside, the caller's role");
    assert.deepEqual(results[2][0], { u: "postgres", sub: null }, "right after, postgres again");
    assert.deepEqual(await session(sql), clean(pid));
  } finally {
    await sql.end({ timeout: 2 });
  }
});
