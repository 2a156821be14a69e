// Rules for the Storage and Auth stand-ins, checked on their source: files that fit in the head
// (at most 300 lines), and every query ONE statement: no client-side transaction, reserved
// connection or LISTEN (a transaction across round trips leaves its outcome to guess when a
// connection resets; localstack/db/standin_pool.ts).
import assert from "node:assert/strict";

const ROOT = new URL("../../", import.meta.url).pathname;
const DIRS = ["localstack/storage", "localstack/auth"];

async function standinFiles(): Promise<string[]> {
  const out: string[] = [];
  for (const dir of DIRS) {
    for await (const e of Deno.readDir(`${ROOT}${dir}`)) {
      if (e.isFile && e.name.endsWith(".ts")) out.push(`${dir}/${e.name}`);
    }
  }
  return out.sort();
}

Deno.test("every stand-in file is at most 300 lines", async () => {
  const files = await standinFiles();
  assert.ok(files.length >= 10, "the walk found the stand-in files");
  const long: string[] = [];
  for (const f of files) {
    const lines = (await Deno.readTextFile(`${ROOT}${f}`)).split("\n").length;
    if (lines > 300) long.push(`${f}: ${lines}`);
  }
  assert.deepEqual(long, []);
});

Deno.test("the stand-ins make single statements only", async () => {
  const found: string[] = [];
  for (const f of [...await standinFiles(), "localstack/db/standin_pool.ts"]) {
    const lines = (await Deno.readTextFile(`${ROOT}${f}`)).split("\n");
    lines.forEach((line, i) => {
      const code = line.replace(/\/\/.*$/, "");
      if (/\.(begin|reserve|listen)\(/.test(code)) found.push(`${f}:${i + 1}: ${code.trim()}`);
    });
  }
  assert.deepEqual(found, []);
});

Deno.test("the stand-ins' pools are named and come from standinPool", async () => {
  const stack = await Deno.readTextFile(`${ROOT}localstack/stack.ts`);
  assert.match(stack, /standinPool\(dbUrl, "standin-storage"\)/);
  assert.match(stack, /standinPool\(dbUrl, "standin-auth"\)/);
  for (const f of await standinFiles()) {
    const text = await Deno.readTextFile(`${ROOT}${f}`);
    assert.doesNotMatch(text, /\bpostgres\(/, `${f} opens a pool of its own`);
  }
});
