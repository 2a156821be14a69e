// `npm test`: a fresh database for this run (bootstrap + every migration through the Supabase
// CLI), the pgTAP suites through pg_prove, then the whole local stack started once and every
// Deno test run against it over HTTP. Exits non-zero on any failure.
import {
  createDatabase,
  DEFAULT_ADMIN_URL,
  dropDatabase,
  dropStaleDatabases,
  migrate,
  PROJECT_ROOT,
} from "../localstack/db/prepare.ts";
import { startStack } from "../localstack/main.ts";

const chaos = Deno.args.includes("--chaos");
const filters = Deno.args.filter((a) => !a.startsWith("--"));
const stamp = Date.now();
const prefix = "makeit3d_t";
const names = {
  template: `${prefix}${stamp}_tpl`,
  pgtap: `${prefix}${stamp}_pgtap`,
  main: `${prefix}${stamp}_main`,
};
const logPath = `${PROJECT_ROOT}.runs/test-${stamp}.log`;
await Deno.mkdir(`${PROJECT_ROOT}.runs`, { recursive: true });
const logFile = await Deno.open(logPath, { write: true, create: true, append: true });
const enc = new TextEncoder();
const writeLog = (line: string) => logFile.writeSync(enc.encode(line + "\n"));

function say(msg: string) {
  console.log(`[test] ${msg}`);
}

async function run(cmd: string, args: string[], env: Record<string, string> = {}) {
  const child = new Deno.Command(cmd, {
    args,
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
let stack: Awaited<ReturnType<typeof startStack>> | undefined;
const t0 = performance.now();
try {
  await dropStaleDatabases(DEFAULT_ADMIN_URL, prefix, 6 * 3600_000);
  say("preparing a fresh database (bootstrap + supabase db push)");
  const templateUrl = await createDatabase(DEFAULT_ADMIN_URL, names.template);
  await migrate(templateUrl);
  // A second push must be a no-op (migrations are idempotent in the CLI's ledger).
  await migrate(templateUrl, { quiet: true });
  const pgtapUrl = await createDatabase(DEFAULT_ADMIN_URL, names.pgtap, names.template);
  const mainUrl = await createDatabase(DEFAULT_ADMIN_URL, names.main, names.template);

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
    ?.reduce((n, m) => n + Number(m.match(/Failed (\d+)/)![1]), 0) ?? 0;
  if (prove.code !== 0) failed += Math.max(1, failedTests);
  passed += Math.max(0, tests - failedTests);

  say("starting the local stack");
  stack = await startStack({
    port: 0,
    dbUrl: mainUrl,
    skipMigrations: true,
    dataDir: `${PROJECT_ROOT}.runs/storage-${names.main}`,
    log: writeLog,
    functionEnv: { LOG_LEVEL: "info" },
  });
  say(`stack up at ${stack.url} (${((performance.now() - t0) / 1000).toFixed(1)} s since start)`);

  // Everything by default (the chaos suite included); `--chaos` runs only the chaos suite.
  const testDirs = filters.length ? filters : chaos ? ["tests/chaos/"] : ["tests/"];
  const denoArgs = ["test", "-A", "--no-prompt", ...testDirs];
  const env = {
    ...(await stack.testEnv()),
    STACK_TEMPLATE_DB: names.template,
    STACK_ADMIN_DB_URL: DEFAULT_ADMIN_URL,
    STACK_LOG_PATH: logPath,
    DENO_NO_PACKAGE_JSON: "1",
    NO_COLOR: "1",
  };
  say(`deno ${denoArgs.join(" ")}`);
  const dt = await run(Deno.execPath(), denoArgs, env);
  const summary = dt.out.match(/(ok|FAILED) \| (\d+) passed(?: \((\d+) steps?\))? \| (\d+) failed/);
  if (summary) {
    passed += Number(summary[2]);
    failed += Number(summary[4]);
  }
  if (dt.code !== 0 && (!summary || Number(summary[4]) === 0)) failed += 1;
} catch (e) {
  failed += 1;
  console.error(`[test] ${e instanceof Error ? e.stack ?? e.message : e}`);
} finally {
  await stack?.stop().catch(() => {});
  for (const n of Object.values(names)) {
    await dropDatabase(DEFAULT_ADMIN_URL, n).catch(() => {});
  }
  await Deno.remove(`${PROJECT_ROOT}.runs/storage-${names.main}`, { recursive: true }).catch(
    () => {},
  );
  logFile.close();
}
say(`stack and function logs: ${logPath}`);
say(`finished in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
console.log(`${passed} passed, ${failed} failed`);
Deno.exit(failed > 0 ? 1 : 0);
