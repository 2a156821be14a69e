// A SUPABASE_DB_URL given on purpose that does not work ends `npm run dev` (localstack/main.ts)
// with one line naming the variable and the failure: no stack trace, no password.
import assert from "node:assert/strict";
import { PROJECT_ROOT } from "../../localstack/db/prepare.ts";

function closedPort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

async function devWith(dbUrl: string): Promise<{ code: number; stderr: string; stdout: string }> {
  const child = new Deno.Command(`${PROJECT_ROOT}node_modules/.bin/deno`, {
    args: ["run", "-A", "localstack/main.ts"],
    cwd: PROJECT_ROOT,
    env: {
      SUPABASE_DB_URL: dbUrl,
      PORT: "0", // should it get past the database, it must not take the shared port
      DENO_NO_PACKAGE_JSON: "1",
      DENO_NO_UPDATE_CHECK: "1",
      NO_COLOR: "1",
    },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  // Bounded: a stack that came up regardless would run forever.
  const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
  const out = await child.output();
  clearTimeout(timer);
  const dec = new TextDecoder();
  return { code: out.code, stderr: dec.decode(out.stderr), stdout: dec.decode(out.stdout) };
}

Deno.test("dev: an unreachable SUPABASE_DB_URL ends with one line, exit code 1", async () => {
  const port = closedPort();
  const r = await devWith(`postgres://app_user:s3cret-pw@127.0.0.1:${port}/appdb`);
  assert.notEqual(r.code, 0);
  const lines = r.stderr.trim().split("\n");
  assert.equal(lines.length, 1, `stderr:\n${r.stderr}`);
  assert.equal(
    lines[0],
    `SUPABASE_DB_URL (postgres://app_user:***@127.0.0.1:${port}/appdb): connection refused`,
  );
  assert.ok(!/^\s+at /m.test(r.stderr), "no stack frames");
  assert.ok(!r.stderr.includes("s3cret-pw") && !r.stdout.includes("s3cret-pw"), "password shown");
  assert.equal(r.stdout, "");
});

Deno.test("dev: a SUPABASE_DB_URL that is not a URL ends with one line, not echoed", async () => {
  const r = await devWith("host=127.0.0.1 password=s3cret-pw");
  assert.notEqual(r.code, 0);
  assert.equal(
    r.stderr.trim(),
    "SUPABASE_DB_URL (<not a valid URL>): not a valid postgres:// URL",
  );
});
