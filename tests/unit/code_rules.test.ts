// Rules of the tree that keep the product code readable in one pass and safe on the platform,
// checked on the source itself: files that fit in the head, no import cycles, no casts that
// hide a type, no client-side transactions or LISTEN (the transaction pooler cannot carry
// them), the stand-in never imported by a function, and one list of job failure codes for
// TypeScript and SQL.
import assert from "node:assert/strict";
import { JOB_FAILURE_CODES } from "../../supabase/functions/_shared/jobs/failures.ts";
import { JOB_KINDS } from "../../supabase/functions/_shared/jobs/schemas.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const FUNCTIONS = `${ROOT}supabase/functions`;

async function* walk(dir: string): AsyncGenerator<string> {
  for await (const e of Deno.readDir(dir)) {
    const p = `${dir}/${e.name}`;
    if (e.isDirectory) yield* walk(p);
    else if (e.name.endsWith(".ts")) yield p;
  }
}
const rel = (p: string) => p.slice(ROOT.length);
const productFiles = async () => {
  const out: string[] = [];
  for await (const f of walk(FUNCTIONS)) out.push(f);
  return out.sort();
};

/** Relative imports of a file, resolved to absolute paths. */
function importsOf(file: string, text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/^\s*(?:import|export)[^"';]*?from\s+"([^"]+)"/gm)) {
    if (m[1].startsWith(".")) out.push(new URL(m[1], `file://${file}`).pathname);
  }
  return out;
}

Deno.test("every product file is at most 400 lines", async () => {
  const long: string[] = [];
  for (const f of await productFiles()) {
    const lines = (await Deno.readTextFile(f)).split("\n").length;
    if (lines > 400) long.push(`${rel(f)}: ${lines}`);
  }
  assert.deepEqual(long, []);
});

Deno.test("no import cycle among the product modules", async () => {
  const graph = new Map<string, string[]>();
  for (const f of await productFiles()) graph.set(f, importsOf(f, await Deno.readTextFile(f)));
  assert.ok(graph.size > 20, "the walk found the product files");
  const state = new Map<string, "open" | "done">();
  const cycles: string[] = [];
  const visit = (f: string, path: string[]) => {
    if (state.get(f) === "done") return;
    if (state.get(f) === "open") {
      cycles.push([...path.slice(path.indexOf(f)), f].map(rel).join(" → "));
      return;
    }
    state.set(f, "open");
    for (const d of graph.get(f) ?? []) visit(d, [...path, f]);
    state.set(f, "done");
  };
  for (const f of graph.keys()) visit(f, []);
  assert.deepEqual(cycles, []);
});

Deno.test("no `as unknown as`, no `any`, no client-side transaction or LISTEN", async () => {
  const found: string[] = [];
  for (const f of await productFiles()) {
    const lines = (await Deno.readTextFile(f)).split("\n");
    lines.forEach((line, i) => {
      const code = line.replace(/\/\/.*$/, "");
      const where = `${rel(f)}:${i + 1}`;
      if (/\bas unknown as\b/.test(code)) found.push(`${where}: as unknown as`);
      if (/(:|<|as)\s*any\b/.test(code) || /\bany\[\]/.test(code)) found.push(`${where}: any`);
      if (/\bsql\.(begin|reserve|listen)\(/.test(code)) found.push(`${where}: ${code.trim()}`);
      if (/\bprepare:\s*true/.test(code)) found.push(`${where}: named prepared statements`);
    });
  }
  assert.deepEqual(found, []);
});

Deno.test("functions import no stand-in or test code, and only the mapped npm packages", async () => {
  const allowed = new Set(["hono", "zod", "postgres", "jose", "openai"]);
  const bad: string[] = [];
  for (const f of await productFiles()) {
    const text = await Deno.readTextFile(f);
    for (const dep of importsOf(f, text)) {
      if (!dep.startsWith(`${FUNCTIONS}/`)) bad.push(`${rel(f)} imports ${rel(dep)}`);
    }
    for (const m of text.matchAll(/^\s*import[^"';]*?from\s+"([^."][^"]*)"/gm)) {
      const pkg = m[1].startsWith("node:") ? "node:" : m[1].split("/")[0];
      if (pkg !== "node:" && !allowed.has(pkg)) bad.push(`${rel(f)} imports ${m[1]}`);
    }
  }
  assert.deepEqual(bad, []);
});

Deno.test("the job failure codes are the same list in TypeScript and in SQL", async () => {
  const dir = `${ROOT}supabase/migrations`;
  let sql = "";
  for (const e of [...Deno.readDirSync(dir)].sort((a, b) => a.name < b.name ? -1 : 1)) {
    sql += await Deno.readTextFile(`${dir}/${e.name}`);
  }
  const m = sql.match(
    /constraint jobs_error_code_known check \(error_code is null or error_code in \(([^)]*)\)/,
  );
  assert.ok(m, "the jobs_error_code_known constraint exists");
  const inSql = [...m[1].matchAll(/'([a-z_]+)'/g)].map((x) => x[1]).sort();
  assert.deepEqual(inSql, [...JOB_FAILURE_CODES].sort());
});

Deno.test("every job kind is one list: TypeScript, the SQL checks, a function, config.toml", async () => {
  const dir = `${ROOT}supabase/migrations`;
  let sql = "";
  for (const e of [...Deno.readDirSync(dir)].sort((a, b) => a.name < b.name ? -1 : 1)) {
    sql += await Deno.readTextFile(`${dir}/${e.name}`);
  }
  const kinds = [...JOB_KINDS].sort();
  // jobs.kind and credit_prices.kind: the two `check (kind in (…))` constraints.
  const checks = [...sql.matchAll(/check \(kind in \(([^)]*)\)/g)];
  assert.equal(checks.length, 2, "jobs.kind and credit_prices.kind are checked");
  for (const c of checks) {
    assert.deepEqual([...c[1].matchAll(/'([a-z_]+)'/g)].map((x) => x[1]).sort(), kinds);
  }
  const toml = await Deno.readTextFile(`${ROOT}supabase/config.toml`);
  for (const kind of kinds) {
    const name = `generate-${kind.replaceAll("_", "-")}`;
    const index = await Deno.readTextFile(`${FUNCTIONS}/${name}/index.ts`);
    assert.match(index, new RegExp(`PLANS\\.${kind}\\b`), `${name} serves its kind's plan`);
    assert.match(toml, new RegExp(`\\[functions\\.${name}\\]\\nverify_jwt = false`), name);
  }
});
