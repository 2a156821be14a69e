// The typed client package (client/) as its tests need it: its npm dependencies installed from
// its own lock file (on first use, or when the lock changed) and the package built with tsc, so
// every run tests the current source as the app would get it (client/dist).
const ROOT = new URL("../../", import.meta.url).pathname;
export const CLIENT_DIR = `${ROOT}client`;

async function run(cmd: string, args: string[]): Promise<void> {
  const out = await new Deno.Command(cmd, {
    args,
    cwd: CLIENT_DIR,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  if (!out.success) {
    const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
    throw new Error(`client/: ${cmd} ${args.join(" ")} failed:\n${text}`);
  }
}

const mtime = async (p: string) => (await Deno.stat(p).catch(() => null))?.mtime?.getTime();

/** Installs client/node_modules from client/package-lock.json unless it is current. */
export async function ensureClientDeps(): Promise<void> {
  const installed = await mtime(`${CLIENT_DIR}/node_modules/.package-lock.json`);
  const lock = await mtime(`${CLIENT_DIR}/package-lock.json`);
  if (installed !== undefined && lock !== undefined && installed + 1000 >= lock) return;
  console.log("[client] installing the client's npm dependencies: npm ci");
  await run("npm", ["ci", "--no-audit", "--no-fund"]);
}

let built: Promise<void> | undefined;

/** Installs and builds the client once per test process (tsc → client/dist). */
export function ensureClientBuilt(): Promise<void> {
  built ??= (async () => {
    await ensureClientDeps();
    await run("npm", ["run", "--silent", "build"]);
  })();
  return built;
}
