// `npm test`, in tiers, each reported as it goes; exits non-zero on any failure.
// 0. static: `deno fmt --check`, `deno lint` and deno.json's `check` task (`npm run check` runs
//    only this tier), so what the README promises of the code is what CI holds it to.
// 1. unit: tests/unit/, nothing running (seconds; `npm run test:unit` runs only this tier).
// 2. pgTAP: a fresh database (bootstrap + every migration through the Supabase CLI, pushed
//    twice to prove the second push is a no-op), the suites in supabase/tests through pg_prove.
// 3. stack: the whole local stack started once; every other test in tests/ against it over HTTP
//    (the chaos suite starts stacks of its own). `--chaos` runs only tests/chaos/, `--pgtap`
//    only the pgTAP tier.
// 4. early drop: tests/flows/ again against a stack whose function isolates are retired after
//    every response, as the platform may do, so nothing may rely on an isolate living on; that
//    stack is a legacy project (JWT keys, HS256 tokens), so both configurations run end to end.
import { adminUrlOrExit } from "../localstack/db/cluster.ts";
import { SetupError } from "../localstack/db/system.ts";
import {
  createDatabase,
  dropDatabase,
  dropStaleDatabases,
  migrate,
  PROJECT_ROOT,
} from "../localstack/db/prepare.ts";
import { type Stack, startStack } from "../localstack/stack.ts";

const args = Deno.args;
const mode = args.includes("--static")
  ? "static"
  : args.includes("--unit")
  ? "unit"
  : args.includes("--chaos")
  ? "chaos"
  : args.includes("--pgtap")
  ? "pgtap"
  : "all";
/** Every tier but static and unit needs a database (and makes its own in it). */
const usesDatabase = mode !== "unit" && mode !== "static";
// SUPABASE_DB_URL (must answer), else 5432, else the private cluster (localstack/db/cluster.ts).
const DEFAULT_ADMIN_URL = usesDatabase
  ? await adminUrlOrExit((l) => console.log(`[test] ${l}`))
  : "";
const filters = args.filter((a) => !a.startsWith("--"));
// The main stack's project: `current` (new API keys, ES256 user tokens) unless TEST_PROJECT=legacy.
const mainProject = Deno.env.get("TEST_PROJECT") === "legacy" ? "legacy" : "current";
const stamp = Date.now();
const prefix = "makeit3d_t";
const names = {
  template: `${prefix}${stamp}_tpl`,
  pgtap: `${prefix}${stamp}_pgtap`,
  main: `${prefix}${stamp}_main`,
  drop: `${prefix}${stamp}_drop`,
};
const logPath = `${PROJECT_ROOT}.runs/test-${stamp}.log`;
await Deno.mkdir(`${PROJECT_ROOT}.runs`, { recursive: true });
const logFile = await Deno.open(logPath, { write: true, create: true, append: true });
const enc = new TextEncoder();
const writeLog = (line: string) => logFile.writeSync(enc.encode(line + "\n"));

function say(msg: string) {
  console.log(`[test] ${msg}`);
}

async function run(cmd: string, cmdArgs: string[], env: Record<string, string> = {}) {
  const child = new Deno.Command(cmd, {
    args: cmdArgs,
    cwd: PROJECT_ROOT,
    env,
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  let out = "";
  for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
    out += chunk;
    await Deno.stdout.write(enc.encode(chunk));
  }
  const status = await child.status;
  return { code: status.code, out };
}

let passed = 0;
let failed = 0;
let skipped = 0;
const tiers: string[] = [];

/** Runs `deno test` on `paths` and counts its summary (a run without one is a failure). */
async function denoTests(tier: string, paths: string[], env: Record<string, string>) {
  const t = performance.now();
  say(`${tier}: deno test ${paths.join(" ")}`);
  const dt = await run(Deno.execPath(), ["test", "-A", "--no-prompt", ...paths], {
    ...env,
    DENO_NO_PACKAGE_JSON: "1",
    NO_COLOR: "1",
  });
  const summary = dt.out.match(/(ok|FAILED) \| (\d+) passed(?: \((\d+) steps?\))? \| (\d+) failed/);
  const p = Number(summary?.[2] ?? 0);
  // Ignored tests (e.g. the browser test without Chromium) are reported, never counted passed.
  const ign = Number(dt.out.match(/\| (\d+) failed \| (\d+) ignored/)?.[2] ?? 0);
  skipped += ign;
  const f = Number(summary?.[4] ?? 0) + (dt.code !== 0 && !Number(summary?.[4] ?? 0) ? 1 : 0);
  passed += p;
  failed += f;
  tiers.push(
    `${tier}: ${p} passed, ${f} failed${ign ? `, ${ign} skipped` : ""} (${
      ((performance.now() - t) / 1000).toFixed(1)
    } s)`,
  );
}

/** The stack-tier test folders: everything in tests/ but the unit tier and the helpers. */
async function stackDirs(): Promise<string[]> {
  const dirs: string[] = [];
  for await (const e of Deno.readDir(`${PROJECT_ROOT}tests`)) {
    if (e.isDirectory && !["unit", "_helpers"].includes(e.name)) dirs.push(`tests/${e.name}/`);
  }
  return dirs.sort();
}

async function stackEnv(stack: Stack): Promise<Record<string, string>> {
  return {
    ...(await stack.testEnv()),
    STACK_TEMPLATE_DB: names.template,
    STACK_ADMIN_DB_URL: DEFAULT_ADMIN_URL,
    STACK_LOG_PATH: logPath,
  };
}

/**
 * The static checks, one counted result each: formatting, lint, and the type check as deno.json's
 * `check` task spells it (one list of checked folders; run here without `deno task`, which
 * re-links package.json's npm packages into node_modules and, on a fresh clone, panicked doing so).
 */
async function staticChecks() {
  const t = performance.now();
  const config = JSON.parse(await Deno.readTextFile(`${PROJECT_ROOT}deno.json`));
  const checks: string[][] = [["fmt", "--check"], ["lint"]];
  for (const part of String(config.tasks.check).split("&&")) {
    const words = part.trim().split(/\s+/);
    if (words[0] !== "deno") throw new Error(`deno.json's check task: not a deno command: ${part}`);
    checks.push(words.slice(1));
  }
  let p = 0;
  let f = 0;
  for (const c of checks) {
    say(`static: deno ${c.join(" ")}`);
    const r = await run(Deno.execPath(), c, { NO_COLOR: "1" });
    if (r.code === 0) p++;
    else {
      f++;
      say(`static: deno ${c.join(" ")} failed (exit ${r.code})`);
    }
  }
  passed += p;
  failed += f;
  tiers.push(`static: ${p} passed, ${f} failed (${((performance.now() - t) / 1000).toFixed(1)} s)`);
}

let stack: Stack | undefined;
const t0 = performance.now();
try {
  if ((mode === "all" && filters.length === 0) || mode === "static") {
    await staticChecks();
  }
  if ((mode === "all" && filters.length === 0) || mode === "unit") {
    await denoTests("unit", ["tests/unit/"], {});
  }
  if (usesDatabase) {
    await dropStaleDatabases(DEFAULT_ADMIN_URL, prefix, 6 * 3600_000);
    say("preparing a fresh database (bootstrap + supabase db push)");
    const templateUrl = await createDatabase(DEFAULT_ADMIN_URL, names.template);
    await migrate(templateUrl);
    // A second push must be a no-op (migrations are idempotent in the CLI's ledger).
    await migrate(templateUrl, { quiet: true });

    if ((filters.length === 0 && mode === "all") || mode === "pgtap") {
      const pgtapUrl = await createDatabase(DEFAULT_ADMIN_URL, names.pgtap, names.template);
      const tp = performance.now();
      say("pgTAP (pg_prove)");
      const files: string[] = [];
      for await (const e of Deno.readDir(`${PROJECT_ROOT}supabase/tests`)) {
        if (e.isFile && e.name.endsWith(".sql")) files.push(`supabase/tests/${e.name}`);
      }
      files.sort();
      const u = new URL(pgtapUrl);
      const prove = await run("pg_prove", [
        "-h",
        u.hostname,
        "-p",
        u.port || "5432",
        "-U",
        u.username || "postgres",
        "-d",
        names.pgtap,
        ...files,
      ]);
      const tests = Number(prove.out.match(/Tests=(\d+)/)?.[1] ?? 0);
      const failedTests = prove.out.match(/Failed (\d+)\/(\d+) subtests/g)
        ?.reduce((n, m) => n + Number(m.match(/Failed (\d+)/)?.[1] ?? 0), 0) ?? 0;
      const f = prove.code !== 0 ? Math.max(1, failedTests) : 0;
      failed += f;
      passed += Math.max(0, tests - failedTests);
      tiers.push(
        `pgTAP: ${Math.max(0, tests - failedTests)} passed, ${f} failed (${
          ((performance.now() - tp) / 1000).toFixed(1)
        } s)`,
      );
    }
  }
  if (usesDatabase && mode !== "pgtap") {
    const mainUrl = await createDatabase(DEFAULT_ADMIN_URL, names.main, names.template);
    say("starting the local stack");
    stack = await startStack({
      port: 0,
      dbUrl: mainUrl,
      skipMigrations: true,
      dataDir: `${PROJECT_ROOT}.runs/storage-${names.main}`,
      log: writeLog,
      functionEnv: { LOG_LEVEL: "info" },
      project: mainProject,
    });
    say(`stack up at ${stack.url} (${((performance.now() - t0) / 1000).toFixed(1)} s since start)`);
    const paths = filters.length
      ? filters
      : mode === "chaos"
      ? ["tests/chaos/"]
      : await stackDirs();
    await denoTests(mode === "chaos" ? "chaos" : "stack", paths, await stackEnv(stack));
    await stack.stop();
    stack = undefined;

    if (filters.length === 0 && mode === "all") {
      const dropUrl = await createDatabase(DEFAULT_ADMIN_URL, names.drop, names.template);
      say(
        "starting a legacy project's stack (JWT keys, HS256 user tokens) that retires every " +
          "function isolate after each response",
      );
      stack = await startStack({
        port: 0,
        dbUrl: dropUrl,
        skipMigrations: true,
        earlyDrop: true,
        project: "legacy",
        dataDir: `${PROJECT_ROOT}.runs/storage-${names.drop}`,
        log: writeLog,
        functionEnv: { LOG_LEVEL: "info" },
      });
      await denoTests("early drop", ["tests/flows/"], await stackEnv(stack));
    }
  }
} catch (e) {
  failed += 1;
  // A SetupError says what to change in its message; a stack trace would only bury it.
  const text = e instanceof SetupError ? e.message : e instanceof Error ? e.stack ?? e.message : e;
  console.error(`[test] ${text}`);
} finally {
  await stack?.stop().catch(() => {});
  if (usesDatabase) {
    for (const n of Object.values(names)) {
      await dropDatabase(DEFAULT_ADMIN_URL, n).catch(() => {});
    }
    for (const n of [names.main, names.drop]) {
      await Deno.remove(`${PROJECT_ROOT}.runs/storage-${n}`, { recursive: true }).catch(() => {});
    }
  }
  logFile.close();
}
for (const line of tiers) say(line);
say(`stack and function logs: ${logPath}`);
say(`finished in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ""}`);
Deno.exit(failed > 0 ? 1 : 0);
