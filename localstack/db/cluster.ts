// Which PostgreSQL server the local stack, the tests and the benchmark use. A URL given on
// purpose (SUPABASE_DB_URL) must answer, or the command ends with one line saying why; else the
// machine's server at 127.0.0.1:5432; else a private PostgreSQL 15 cluster of our own under
// .runs/pg15/ (installed, initialised and started on first use, reused by later runs), so a
// machine without a database server still runs `npm run dev` and `npm test`.
import postgres from "postgres";
import { DEFAULT_ADMIN_URL, PROJECT_ROOT } from "./prepare.ts";
import {
  aptInstall,
  asPostgres,
  dirForPostgres,
  freePort,
  isExecutable,
  isRoot,
  onProcessEnd,
  processAlive,
  runChecked,
  SetupError,
  within,
} from "./system.ts";

export const PG_MAJOR = 15;
const BIN = `/usr/lib/postgresql/${PG_MAJOR}/bin`;

/** A database URL given on purpose that does not work; its message is the whole story. */
export class DatabaseUrlError extends SetupError {}

/** The URL with its password replaced by `***`, safe to print. */
export function maskUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString();
  } catch {
    return "<not a valid URL>";
  }
}

/**
 * Connects and runs `select 1`. Returns null when that works, else a short reason. A TCP check
 * with our own timer comes first: postgres.js keeps retrying an address that never answers.
 */
export async function probe(url: string, timeoutMs = 3000): Promise<string | null> {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return "not a valid postgres:// URL";
  }
  const secs = `${timeoutMs / 1000} s`;
  const hostname = u.hostname.replace(/^\[|\]$/g, "");
  if (hostname) {
    const conn = Deno.connect({ hostname, port: Number(u.port || 5432) });
    const r = await within(
      conn.then(
        () => null,
        (e: Error) =>
          e instanceof Deno.errors.ConnectionRefused
            ? "connection refused"
            : /lookup|resolve|ENOTFOUND|Name or service/i.test(e.message)
            ? "host not found"
            : e.message.split("\n")[0],
      ),
      timeoutMs,
      () => conn.then((c) => c.close(), () => {}),
    );
    if (r === "timeout") return `no answer within ${secs}`;
    if (r) return r;
    (await conn).close();
  }
  const sql = postgres(url, {
    max: 1,
    prepare: false,
    connect_timeout: Math.ceil(timeoutMs / 1000),
    idle_timeout: 1,
    onnotice: () => {},
    connection: { application_name: "makeit3d-probe" },
  });
  const r = await within(
    sql`select 1`.then(() => null, (e: Error) => e.message.split("\n")[0]),
    timeoutMs,
  );
  await sql.end({ timeout: 0 }).catch(() => {});
  if (r === "timeout") return `no answer within ${secs}`;
  // A server error never echoes the password, but a driver message might quote the URL.
  return r && u.password ? r.replaceAll(decodeURIComponent(u.password), "***") : r;
}

/** Installs postgresql-15 (and pgTAP for it) when its binaries are missing; root only. */
export async function ensurePostgresInstalled(log: (l: string) => void): Promise<void> {
  const missing: string[] = [];
  if (!isExecutable(`${BIN}/initdb`) || !isExecutable(`${BIN}/pg_ctl`)) {
    missing.push(`postgresql-${PG_MAJOR}`);
  }
  // Tests load pgTAP into this cluster's major version; dev does not need it.
  const pgtap = `/usr/share/postgresql/${PG_MAJOR}/extension/pgtap.control`;
  let hasPgtap = true;
  try {
    Deno.statSync(pgtap);
  } catch {
    hasPgtap = false;
  }
  if (!hasPgtap && (missing.length > 0 || isRoot())) missing.push(`postgresql-${PG_MAJOR}-pgtap`);
  await aptInstall(missing, log);
}

export interface PrivateCluster {
  adminUrl: string;
  port: number;
  /** Cluster directory: data/, socket/, postgres.log. */
  dir: string;
  /** Whether this process started the server (only then does stop() stop it). */
  startedHere: boolean;
  stop(): Promise<void>;
}

// Servers this process started, stopped when it ends if stop() was not called; an owner killed
// outright leaves the server running, and the next run reuses it.
const startedHere = new Set<string>();
onProcessEnd(() => {
  for (const data of startedHere) {
    const [cmd, args] = asPostgres(`${BIN}/pg_ctl`, ["-D", data, "-m", "fast", "-s", "stop"]);
    try {
      const cwd = data.replace(/\/data$/, ""); // a directory the postgres user can enter
      new Deno.Command(cmd, { args, cwd, stdout: "null", stderr: "null" }).outputSync();
    } catch { /* best effort */ }
  }
});

/** The port of a postmaster already serving `data`, or null (none, stale pid file). */
async function runningPort(data: string): Promise<number | null> {
  let lines: string[];
  try {
    lines = (await Deno.readTextFile(`${data}/postmaster.pid`)).split("\n");
  } catch {
    return null;
  }
  const pid = Number(lines[0]);
  const port = Number(lines[3]);
  let comm = "";
  try {
    comm = (await Deno.readTextFile(`/proc/${pid}/comm`)).trim();
  } catch { /* not running */ }
  if (!pid || !port || !processAlive(pid) || !comm.startsWith("postgres")) {
    // Left by a crash; a pid since reused by another process would make postgres refuse to start.
    await Deno.remove(`${data}/postmaster.pid`).catch(() => {});
    return null;
  }
  return (await probe(`postgres://postgres@127.0.0.1:${port}/postgres`)) ? null : port;
}

async function asPg(cmd: string, args: string[], cwd: string): Promise<string> {
  const [c, a] = asPostgres(`${BIN}/${cmd}`, args);
  return await runChecked(c, a, { cwd });
}

const SETTINGS = (socketDir: string) => `
# --- added by localstack/db/cluster.ts: a throwaway dev/test cluster ---
listen_addresses = '127.0.0.1'
unix_socket_directories = '${socketDir}'
max_connections = 300
wal_level = logical
fsync = off
synchronous_commit = off
full_page_writes = off
shared_buffers = 128MB
timezone = 'UTC'
log_timezone = 'UTC'
`;

/**
 * Starts (initialising on first use) the private cluster in `dir` on a free 127.0.0.1 port, or
 * attaches to the one already running there. A file lock keeps two runs from racing initdb.
 */
export async function startPrivateCluster(
  opts: { dir: string; log?: (l: string) => void },
): Promise<PrivateCluster> {
  const log = opts.log ?? (() => {});
  await ensurePostgresInstalled(log);
  const dir = opts.dir.replace(/\/$/, "");
  const data = `${dir}/data`;
  await dirForPostgres(dir);
  const lock = await Deno.open(`${dir}/.lock`, { create: true, write: true });
  await lock.lock(true);
  try {
    let port = await runningPort(data);
    const here = port === null;
    if (port === null) {
      // A socket path over ~107 bytes cannot be bound; TCP alone is enough for us.
      const socketDir = `${dir}/socket`.length < 90 ? `${dir}/socket` : "";
      if (socketDir) await dirForPostgres(socketDir);
      if (!(await Deno.stat(`${data}/PG_VERSION`).then(() => true, () => false))) {
        log(`[db] initdb of a private PostgreSQL ${PG_MAJOR} cluster in ${data}`);
        await Deno.remove(data, { recursive: true }).catch(() => {});
        const flags = "-U postgres -A trust -E UTF8 --locale=C.UTF-8 --no-sync --no-instructions";
        await asPg("initdb", ["-D", data, ...flags.split(" ")], dir);
        const conf = `${data}/postgresql.conf`;
        await Deno.writeTextFile(conf, SETTINGS(socketDir), { append: true });
      }
      port = freePort();
      // setsid: Ctrl-C on the terminal must not reach the server before our own stop() does.
      const [c, a] = asPostgres(`${BIN}/pg_ctl`, [
        ...["-D", data, "-l", `${dir}/postgres.log`, "-w", "-t", "60", "-s"],
        ...["-o", `-c port=${port}`, "start"],
      ]);
      await runChecked("setsid", ["--wait", c, ...a], { cwd: dir });
      startedHere.add(data);
      log(`[db] private PostgreSQL ${PG_MAJOR} on 127.0.0.1:${port} (${dir})`);
    } else {
      log(`[db] reusing the private PostgreSQL ${PG_MAJOR} on 127.0.0.1:${port} (${dir})`);
    }
    return {
      adminUrl: `postgres://postgres@127.0.0.1:${port}/postgres`,
      port,
      dir,
      startedHere: here,
      async stop() {
        if (!here || !startedHere.has(data)) return;
        startedHere.delete(data);
        await asPg("pg_ctl", ["-D", data, "-m", "fast", "-w", "-s", "stop"], dir);
      },
    };
  } finally {
    await lock.unlock().catch(() => {});
    lock.close();
  }
}

export interface AdminDatabase {
  /** A superuser URL on the chosen server (database `postgres`, or SUPABASE_DB_URL as given). */
  adminUrl: string;
  /** True for the private cluster. */
  private: boolean;
  stop(): Promise<void>;
}

/**
 * SUPABASE_DB_URL when set (it must answer: DatabaseUrlError otherwise), else the default local
 * server when it answers, else the private cluster under `<project>/.runs/pg15`.
 */
export async function resolveAdminUrl(opts: {
  log?: (l: string) => void;
  env?: Record<string, string>;
  /** Where the private cluster lives (its `pg15/`). Default `<project>/.runs`. */
  runDir?: string;
  /** The server tried before the private cluster; tests point it at a closed port. */
  defaultUrl?: string;
} = {}): Promise<AdminDatabase> {
  const log = opts.log ?? ((l: string) => console.error(l));
  const env = opts.env ?? Deno.env.toObject();
  const none = () => Promise.resolve();
  const given = env.SUPABASE_DB_URL;
  if (given) {
    const why = await probe(given);
    if (why) throw new DatabaseUrlError(`SUPABASE_DB_URL (${maskUrl(given)}): ${why}`);
    return { adminUrl: given, private: false, stop: none };
  }
  const defaultUrl = opts.defaultUrl ?? DEFAULT_ADMIN_URL;
  const why = await probe(defaultUrl, 2000);
  if (!why) return { adminUrl: defaultUrl, private: false, stop: none };
  log(`[db] ${maskUrl(defaultUrl)}: ${why}; using a private PostgreSQL ${PG_MAJOR} cluster`);
  const c = await startPrivateCluster({
    dir: `${opts.runDir ?? `${PROJECT_ROOT}.runs`}/pg15`,
    log,
  });
  return { adminUrl: c.adminUrl, private: true, stop: c.stop };
}

/** For `.catch()` at a command's top level: a SetupError ends it with its one line. */
export function exitOnSetupError(e: unknown): never {
  if (e instanceof SetupError) {
    console.error(e.message);
    Deno.exit(1);
  }
  throw e;
}

/** resolveAdminUrl(...).adminUrl for a command's top level (tests, benchmark). */
export async function adminUrlOrExit(log?: (l: string) => void): Promise<string> {
  return (await resolveAdminUrl({ log }).catch(exitOnSetupError)).adminUrl;
}
