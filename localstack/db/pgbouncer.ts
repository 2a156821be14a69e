// PgBouncer in `pool_mode = transaction` in front of a database server: the local stand-in for
// Supabase's Supavisor transaction pooler (port 6543), which hosted Edge Functions reach through
// SUPABASE_DB_URL. Each server connection is handed back after every transaction, so code that
// leans on session state (named prepared statements, session SET, LISTEN, session advisory
// locks, temp tables) breaks here as it would in production.
import {
  accepts,
  aptInstall,
  chownToPostgres,
  dirForPostgres,
  freePort,
  isRoot,
  onProcessEnd,
  processAlive,
  SetupError,
  which,
  within,
} from "./system.ts";

export interface PgBouncerOptions {
  /** The server behind the pooler, e.g. postgres://postgres@127.0.0.1:5432/postgres. */
  upstreamUrl: string;
  /** Parent of the pooler's own directory (`pgbouncer-<stamp>/`: ini, auth file, log, pid). */
  runDir: string;
  /** Receives PgBouncer's log lines and ours. */
  log?: (line: string) => void;
  /** Server connections per (database, user) pair. Default 20, Supavisor's small-tier size. */
  poolSize?: number;
}

export interface PgBouncer {
  /** Pooler URL for `database`, with the upstream's user (and password, if it had one). */
  url(database: string): string;
  readonly port: number;
  /** The pooler's directory (pgbouncer.ini, users.txt, pgbouncer.log, pgbouncer.pid). */
  readonly dir: string;
  /** SIGTERM (immediate shutdown in 1.18) and wait; the directory and its log stay. */
  stop(): Promise<void>;
  /** SIGKILL and wait, for chaos tests: clients see their connections cut mid-query. */
  kill(): Promise<void>;
  /** (Re)starts on the same port after stop() or kill(); a no-op while running. */
  start(): Promise<void>;
}

/** Makes sure the `pgbouncer` binary exists, installing the Debian package when root. */
export async function ensurePgBouncerInstalled(
  log: (line: string) => void = (l) => console.error(l),
): Promise<void> {
  if (which("pgbouncer")) return;
  await aptInstall(["pgbouncer"], log);
  if (!which("pgbouncer")) throw new Error("pgbouncer is still missing after apt-get install");
}

// Every pooler this process started, so none outlives it. (One left by a crashed run sits on its
// own port and in its own directory, so it never blocks a later start.)
const live = new Set<number>();
onProcessEnd(() => {
  for (const pid of live) {
    try {
      Deno.kill(pid, "SIGKILL");
    } catch { /* already gone */ }
  }
});

function q(value: string): string {
  return `"${value.replaceAll('"', '""')}"`;
}

function iniFile(o: {
  host: string;
  upstreamPort: string;
  port: number;
  dir: string;
  authUser: string;
  poolSize: number;
}): string {
  return `;; written by localstack/db/pgbouncer.ts for one run; regenerated on every start
[databases]
;; every database name maps to the same name on the upstream server
* = host=${o.host} port=${o.upstreamPort}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = ${o.port}
;; no unix socket: nothing in /tmp to go stale, nothing shared with a system pgbouncer
unix_socket_dir =
pool_mode = transaction
;; the upstream is trust-auth; users not in the auth file are looked up through auth_user
;; (auth_query on pg_shadow), so any role of the server can log in, as with Supavisor
auth_type = trust
auth_file = ${o.dir}/users.txt
auth_user = ${o.authUser}
admin_users = ${o.authUser}
stats_users = ${o.authUser}
;; many function processes with a few connections each, plus tests
max_client_conn = 2000
default_pool_size = ${o.poolSize}
min_pool_size = 0
reserve_pool_size = 0
max_db_connections = 0
server_idle_timeout = 30
server_lifetime = 3600
;; transaction mode never runs a reset query; keep it empty so nothing pretends otherwise
server_reset_query =
;; after the upstream restarts (chaos tests), retry logins after 1 s instead of 15 s
server_login_retry = 1
query_wait_timeout = 60
;; postgres.js and the Supabase CLI send only parameters PgBouncer tracks (client_encoding,
;; application_name, …); any other one refuses the login: ?options=… or PGOPTIONS, postgres.js
;; turning an unknown URL parameter such as ?search_path=… into a startup parameter, JDBC's
;; extra_float_digits. Ignored means dropped, not applied to the server session.
ignore_startup_parameters = extra_float_digits,options,search_path
log_connections = 0
log_disconnections = 0
log_pooler_errors = 1
stats_period = 300
logfile = ${o.dir}/pgbouncer.log
pidfile = ${o.dir}/pgbouncer.pid
`;
}

/** Every start makes a directory; those of poolers gone for a day are only clutter. */
async function pruneOldDirs(runDir: string): Promise<void> {
  for await (const e of Deno.readDir(runDir)) {
    const stamp = Number(/^pgbouncer-(\d+)-/.exec(e.name)?.[1]);
    if (!e.isDirectory || !stamp || Date.now() - stamp < 24 * 3600_000) continue;
    const pid = Number(await Deno.readTextFile(`${runDir}/${e.name}/pgbouncer.pid`).catch(() => 0));
    if (!pid || !processAlive(pid)) {
      await Deno.remove(`${runDir}/${e.name}`, { recursive: true }).catch(() => {});
    }
  }
}

/** A fresh `pgbouncer-<stamp>/` in `runDir` that the postgres OS user can write. */
async function newPoolerDir(runDir: string): Promise<string> {
  await Deno.mkdir(runDir, { recursive: true });
  await pruneOldDirs(runDir);
  const dir = `${runDir}/pgbouncer-${Date.now()}-${crypto.randomUUID().slice(0, 8)}`;
  await dirForPostgres(dir).catch(async (e) => {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw e;
  });
  return dir;
}

/**
 * The pooler's directory in `runDir`, or, when the project sits where the postgres OS user
 * cannot go (a clone in a `mktemp -d` folder, a home at mode 700), in the system's temp folder:
 * its files are only for this run, so nothing is lost by keeping them elsewhere.
 */
async function poolerDir(runDir: string, log: (line: string) => void): Promise<string> {
  try {
    return await newPoolerDir(runDir);
  } catch (e) {
    if (!(e instanceof SetupError)) throw e;
    const elsewhere = `${Deno.env.get("TMPDIR") ?? "/tmp"}/makeit3d-pgbouncer`;
    log(`[pgbouncer] ${e.message}; using ${elsewhere} instead`);
    return await newPoolerDir(elsewhere);
  }
}

export async function startPgBouncer(opts: PgBouncerOptions): Promise<PgBouncer> {
  const log = opts.log ?? (() => {});
  await ensurePgBouncerInstalled(log);
  const upstream = new URL(opts.upstreamUrl);
  const user = decodeURIComponent(upstream.username) || "postgres";
  const password = decodeURIComponent(upstream.password);
  const dir = await poolerDir(opts.runDir.replace(/\/$/, ""), log);

  // "postgres" always (the trust server's superuser), plus the upstream's own user with its
  // password when it has one: PgBouncer logs in to the server with the auth file's password.
  const users = new Map([["postgres", ""], [user, password]]);
  const authFile = [...users].map(([u, p]) => `${q(u)} ${q(p)}`).join("\n") + "\n";
  await Deno.writeTextFile(`${dir}/users.txt`, authFile, { mode: 0o600 });
  await chownToPostgres(`${dir}/users.txt`);

  let port = 0;
  let child: Deno.ChildProcess | undefined;
  let exited: Promise<Deno.CommandStatus> | undefined;
  let tail: string[] = [];

  async function spawn(): Promise<void> {
    const ini = `${dir}/pgbouncer.ini`;
    await Deno.writeTextFile(
      ini,
      iniFile({
        host: upstream.hostname.replace(/^\[|\]$/g, ""),
        upstreamPort: upstream.port || "5432",
        port,
        dir,
        authUser: user,
        poolSize: opts.poolSize ?? 20,
      }),
    );
    await chownToPostgres(ini);
    // Our previous process is known dead here, so its pid file is stale; 1.18 removes stale
    // ones itself unless the pid was reused by another live process, which would block us.
    await Deno.remove(`${dir}/pgbouncer.pid`).catch(() => {});
    tail = [];
    // Foreground (no -d) so we own the process: its exit is observable and kill() is exact.
    // As root, -u drops to the postgres OS user after reading the config (it refuses root).
    const c = new Deno.Command(which("pgbouncer") ?? "pgbouncer", {
      args: [...(isRoot() ? ["-u", "postgres"] : []), ini],
      cwd: dir,
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    child = c;
    live.add(c.pid);
    // The pooler must not keep its owner alive; the unload hook ends it instead.
    c.unref();
    exited = c.status.finally(() => live.delete(c.pid));
    (async () => {
      for await (const chunk of c.stderr.pipeThrough(new TextDecoderStream())) {
        for (const line of chunk.split("\n")) {
          if (!line) continue;
          tail = [...tail.slice(-19), line];
          log(`[pgbouncer] ${line}`);
        }
      }
    })().catch(() => {});
    // Bounded wait for the listener; a config or bind error ends the process instead.
    for (let i = 0; i < 200; i++) {
      if ((await within(exited, 50)) !== "timeout") {
        child = undefined;
        throw new Error(`pgbouncer exited at start on port ${port}: ${tail.join(" | ")}`);
      }
      if (await accepts(port)) return;
    }
    c.kill("SIGKILL");
    await exited;
    child = undefined;
    throw new Error(`pgbouncer did not listen on 127.0.0.1:${port} within 10 s`);
  }

  async function end(signal: "SIGTERM" | "SIGKILL"): Promise<void> {
    const c = child;
    if (!c) return;
    child = undefined;
    try {
      c.kill(signal);
    } catch { /* already gone */ }
    // SIGTERM is an immediate shutdown in 1.18; SIGKILL if it ever lingers (bounded).
    if ((await within(exited!, 5000)) === "timeout") {
      try {
        c.kill("SIGKILL");
      } catch { /* gone */ }
      await exited;
    }
  }

  // A free port can be taken between our probe and PgBouncer's bind: try a few.
  for (let attempt = 1;; attempt++) {
    port = freePort();
    try {
      await spawn();
      break;
    } catch (e) {
      if (attempt >= 3) throw e;
      log(`[pgbouncer] start on ${port} failed, retrying on another port: ${e}`);
    }
  }
  log(`[pgbouncer] transaction pooler on 127.0.0.1:${port} -> ${upstream.host} (dir ${dir})`);

  return {
    get port() {
      return port;
    },
    dir,
    url(database: string) {
      const u = new URL(opts.upstreamUrl);
      u.hostname = "127.0.0.1";
      u.port = String(port);
      u.pathname = `/${database}`;
      return u.toString();
    },
    stop: () => end("SIGTERM"),
    kill: () => end("SIGKILL"),
    async start() {
      if (child) return;
      await spawn();
    },
  };
}
