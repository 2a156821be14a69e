#!/usr/bin/env node
// Entry point of the README's commands (`npm run dev`, `npm test`, `npm run check`,
// `npm run bench`, `npm run chaos`, `npm run openapi`). Plain Node with no dependencies, so it
// runs on a fresh machine: it installs the npm toolchain (Deno, Supabase CLI), PgBouncer and,
// for tests, pgTAP, then hands over to Deno.
import { execFileSync, spawn } from "node:child_process";
import { existsSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const mode = process.argv[2];
const rest = process.argv.slice(3);
const entry = {
  dev: ["run", "-A", "localstack/main.ts"],
  test: ["run", "-A", "scripts/test.ts"],
  unit: ["run", "-A", "scripts/test.ts", "--unit"],
  check: ["run", "-A", "scripts/test.ts", "--static"],
  chaos: ["run", "-A", "scripts/test.ts", "--chaos"],
  bench: ["run", "-A", "bench/main.ts"],
  openapi: ["run", "--allow-read", "--allow-write=openapi.json", "tools/openapi/main.ts"],
}[mode];
if (!entry) {
  console.error(`usage: node scripts/run.mjs dev|test|unit|check|chaos|bench|openapi`);
  process.exit(2);
}

function log(msg) {
  console.error(`[setup] ${msg}`);
}

function ensureNodeModules() {
  const deno = join(root, "node_modules", ".bin", "deno");
  const lock = join(root, "package-lock.json");
  const marker = join(root, "node_modules", ".package-lock.json");
  const stale = !existsSync(deno) || !existsSync(join(root, "node_modules", ".bin", "supabase")) ||
    (existsSync(marker) && statSync(lock).mtimeMs > statSync(marker).mtimeMs + 1000);
  if (!stale) return;
  log("installing npm toolchain (deno, supabase CLI): npm ci");
  execFileSync("npm", ["ci", "--no-audit", "--no-fund"], { cwd: root, stdio: "inherit" });
}

function has(cmd) {
  try {
    execFileSync("sh", ["-c", `command -v ${cmd}`], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

function pgtapInstalled() {
  try {
    const out = execFileSync("sh", ["-c", "ls /usr/share/postgresql/*/extension/pgtap.control"], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
    });
    return out.trim().length > 0;
  } catch {
    return false;
  }
}

const isRoot = typeof process.getuid === "function" && process.getuid() === 0;
let aptUpdated = false; // one `apt-get update` for everything this run installs

function aptInstall(what, packages) {
  if (!isRoot) {
    console.error(
      `${what} is missing. Install it with:\n  sudo apt-get install -y ${packages.join(" ")}`,
    );
    process.exit(1);
  }
  log(`installing ${what} with apt-get`);
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  if (!aptUpdated) execFileSync("apt-get", ["update", "-qq"], { stdio: "inherit", env });
  aptUpdated = true;
  execFileSync("apt-get", ["install", "-y", "-qq", ...packages], { stdio: "inherit", env });
}

function ensurePgTap() {
  if (pgtapInstalled() && has("pg_prove")) return;
  const major = execFileSync("sh", ["-c", "ls /usr/lib/postgresql | sort -n | tail -1"], {
    encoding: "utf8",
  }).trim() || "15";
  aptInstall(`pgTAP for PostgreSQL ${major}`, [
    `postgresql-${major}-pgtap`,
    "libtap-parser-sourcehandler-pgtap-perl",
  ]);
}

// The functions reach Postgres through a local PgBouncer in transaction mode, as hosted ones
// reach Supavisor (localstack/db/pgbouncer.ts). Debian's package may also start its own service
// on 6432; nothing here uses that port.
function ensurePgBouncer() {
  if (has("pgbouncer") || existsSync("/usr/sbin/pgbouncer")) return;
  aptInstall("PgBouncer", ["pgbouncer"]);
}

// The console's browser test (tests/console/) drives Debian's Chromium. Unlike pgTAP it is not
// required: when it cannot be installed the test reports itself skipped with this reason.
function ensureChromium() {
  if (existsSync("/usr/bin/chromium")) return;
  if (!isRoot) {
    process.env.CHROMIUM_UNAVAILABLE =
      "not installed and not root: sudo apt-get install -y chromium";
    return;
  }
  try {
    log("installing Chromium (the console's browser test) with apt-get");
    const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
    if (!aptUpdated) execFileSync("apt-get", ["update", "-qq"], { stdio: "inherit", env });
    aptUpdated = true;
    // Another apt run may hold the lock for a while: wait for it rather than fail.
    execFileSync("apt-get", ["install", "-y", "-qq", "-o", "DPkg::Lock::Timeout=300", "chromium"], {
      stdio: "inherit",
      env,
    });
  } catch (e) {
    process.env.CHROMIUM_UNAVAILABLE = `apt-get install chromium failed: ${e.message}`;
  }
}

// The typed client (client/, its own package and lock file): its npm dependencies installed, for
// the console's bundle and the client's tests (which build client/dist themselves, once per run).
function ensureClientPackage() {
  const dir = join(root, "client");
  if (!existsSync(join(dir, "package.json"))) return;
  const marker = join(dir, "node_modules", ".package-lock.json");
  const lock = join(dir, "package-lock.json");
  if (!existsSync(marker) || statSync(lock).mtimeMs > statSync(marker).mtimeMs + 1000) {
    log("installing the client's npm dependencies: npm ci (client/)");
    execFileSync("npm", ["ci", "--no-audit", "--no-fund"], { cwd: dir, stdio: "inherit" });
  }
}

ensureNodeModules();
if (mode === "dev" || mode === "test" || mode === "check") ensureClientPackage();
if (mode === "test" || mode === "chaos") ensurePgTap();
if (mode === "test") ensureChromium();
if (mode !== "check" && mode !== "openapi") ensurePgBouncer();

// DENO_NO_PACKAGE_JSON: package.json only carries the npm toolchain; Deno resolves its own
// dependencies from import_map.json and must not re-link node_modules under npm's feet.
const child = spawn(join(root, "node_modules", ".bin", "deno"), [...entry, ...rest], {
  cwd: root,
  stdio: "inherit",
  env: { ...process.env, DENO_NO_PACKAGE_JSON: "1", DENO_NO_UPDATE_CHECK: "1" },
});
for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => child.kill(sig));
child.on("exit", (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
