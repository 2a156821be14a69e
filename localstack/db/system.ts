// OS-level helpers shared by the PgBouncer and private-cluster stand-ins: installing Debian
// packages on first run, running a server as the `postgres` OS user (PgBouncer, initdb and
// postgres all refuse to run as root) and giving that user a directory it can write.

/**
 * The machine or a setting is not as the stack needs, and the message says what to change: a
 * command's top level prints it as one line, without a stack trace (exitOnSetupError).
 */
export class SetupError extends Error {}

/** True when this process runs as root (uid 0), the only case where apt-get and runuser work. */
export function isRoot(): boolean {
  return Deno.uid() === 0;
}

/** Where `cmd` is on PATH, or null. */
export function which(cmd: string): string | null {
  const dirs = (Deno.env.get("PATH") ?? "/usr/local/bin:/usr/bin:/bin").split(":");
  // Debian puts pgbouncer in /usr/sbin, which a non-root user's PATH often lacks.
  for (const d of [...dirs, "/usr/sbin", "/sbin"]) {
    if (d && isExecutable(`${d}/${cmd}`)) return `${d}/${cmd}`;
  }
  return null;
}

export function isExecutable(path: string): boolean {
  try {
    const st = Deno.statSync(path);
    return st.isFile && ((st.mode ?? 0) & 0o111) !== 0;
  } catch {
    return false;
  }
}

// One `apt-get update` per process, however many modules ask for packages.
let aptUpdated = false;

/**
 * Installs Debian packages with apt-get (root only). Not root: throws one sentence naming the
 * command to run, because a half-installed toolchain is worse than a clear stop.
 */
export async function aptInstall(packages: string[], log: (line: string) => void): Promise<void> {
  if (packages.length === 0) return;
  const cmd = `apt-get install -y ${packages.join(" ")}`;
  if (!isRoot()) throw new Error(`${packages.join(", ")} missing: run \`sudo ${cmd}\``);
  const env = { DEBIAN_FRONTEND: "noninteractive" };
  if (!aptUpdated) {
    log(`[setup] apt-get update`);
    await runChecked("apt-get", ["update", "-qq"], { env });
    aptUpdated = true;
  }
  log(`[setup] ${cmd}`);
  // A package's postinst may start a system service (pgbouncer on 6432, a postgres cluster on
  // 5432); harmless: we never use 6432, and 5432 is probed like any other server.
  await runChecked("apt-get", ["install", "-y", "-qq", ...packages], { env });
}

/** Runs a command to completion; throws with its output when it fails. */
export async function runChecked(
  cmd: string,
  args: string[],
  opts: { env?: Record<string, string>; cwd?: string } = {},
): Promise<string> {
  const out = await new Deno.Command(cmd, {
    args,
    env: opts.env,
    cwd: opts.cwd,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  if (!out.success) {
    throw new Error(`${cmd} ${args.join(" ")} failed (${out.code}): ${text.trim()}`);
  }
  return text;
}

/** The command line that runs `cmd` as the postgres OS user when we are root, else as ourselves. */
export function asPostgres(cmd: string, args: string[]): [string, string[]] {
  return isRoot() ? ["runuser", ["-u", "postgres", "--", cmd, ...args]] : [cmd, args];
}

function postgresIds(): { uid: number; gid: number } {
  const line = Deno.readTextFileSync("/etc/passwd").split("\n")
    .find((l) => l.startsWith("postgres:"));
  if (!line) throw new Error("the postgres OS user does not exist (install postgresql-common)");
  const [, , uid, gid] = line.split(":");
  return { uid: Number(uid), gid: Number(gid) };
}

/**
 * Creates `dir` (and parents) and, when root, hands it to the postgres OS user, then checks
 * that user can really write there: a parent that is not searchable by it (e.g. /root, mode
 * 700) would otherwise surface later as an obscure server error.
 */
export async function dirForPostgres(dir: string): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  if (!isRoot()) return;
  const { uid, gid } = postgresIds();
  await Deno.chown(dir, uid, gid);
  const probe = await new Deno.Command("runuser", {
    args: ["-u", "postgres", "--", "test", "-w", dir],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).output();
  if (!probe.success) {
    throw new SetupError(
      `the postgres OS user cannot write ${dir} (a parent directory is closed to it); ` +
        `move the project somewhere it can reach, or set SUPABASE_DB_URL`,
    );
  }
}

/** Hands a file we wrote to the postgres OS user (when root), so the server can read it. */
export async function chownToPostgres(path: string): Promise<void> {
  if (!isRoot()) return;
  const { uid, gid } = postgresIds();
  await Deno.chown(path, uid, gid);
}

/** A TCP port on 127.0.0.1 that nothing listens on right now. */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** Whether a process with this pid exists (and is not a zombie). */
export function processAlive(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return !/^\d+ \(.*\) Z /.test(stat);
  } catch {
    return false;
  }
}

/** Whether something accepts TCP connections on 127.0.0.1:port. */
export async function accepts(port: number, hostname = "127.0.0.1"): Promise<boolean> {
  try {
    const conn = await Deno.connect({ hostname, port });
    conn.close();
    return true;
  } catch {
    return false;
  }
}

/** `p`'s value, or "timeout" after `ms` (then `onLate` runs); the timer never outlives it. */
export function within<T>(p: Promise<T>, ms: number, onLate = () => {}): Promise<T | "timeout"> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<"timeout">((r) => timer = setTimeout(() => r("timeout"), ms));
  return Promise.race([p, late]).finally(() => clearTimeout(timer)).then((r) => {
    if (r === "timeout") onLate();
    return r;
  });
}

/**
 * Runs `fn` (synchronously) when this process ends: a normal end, Deno.exit(), or an uncaught
 * error that nothing prevented from ending it. Servers we started must not outlive us.
 */
export function onProcessEnd(fn: () => void): void {
  let done = false;
  const once = () => {
    if (done) return;
    done = true;
    fn();
  };
  globalThis.addEventListener("unload", once);
  for (const type of ["error", "unhandledrejection"] as const) {
    globalThis.addEventListener(type, (e) => {
      if (!e.defaultPrevented) once();
    });
  }
}
