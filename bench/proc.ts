// Process helpers: serving an entry point as its own `deno run` process (the way the stack runs
// a function), and reading a process's memory and CPU time from /proc.
import { PROJECT_ROOT } from "../localstack/db/prepare.ts";
import { waitFor } from "./stats.ts";

export interface Served {
  port: number;
  pid: number;
  stop(): Promise<void>;
}

export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** Runs a Deno HTTP entry point as its own process, bound through DENO_SERVE_ADDRESS. */
export async function serveProcess(entry: string, env: Record<string, string>): Promise<Served> {
  const port = freePort();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--no-prompt", entry],
    cwd: PROJECT_ROOT,
    env: {
      ...env,
      DENO_SERVE_ADDRESS: `tcp:127.0.0.1:${port}`,
      DENO_NO_PACKAGE_JSON: "1",
      DENO_NO_UPDATE_CHECK: "1",
    },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  // Drained like the stack drains its functions' logs, so logging costs what it costs there.
  child.stdout.pipeTo(new WritableStream()).catch(() => {});
  // Keep the tail of stderr for a failure message; reading it keeps the pipe from filling.
  let tail = "";
  (async () => {
    for await (const t of child.stderr.pipeThrough(new TextDecoderStream())) {
      tail = (tail + t).slice(-4000);
    }
  })().catch(() => {});
  let exited = false;
  const status = child.status.then((s) => {
    exited = true;
    return s;
  });
  await waitFor(
    `${entry} to listen`,
    async () => {
      if (exited) throw new Error(`${entry} exited during boot:\n${tail}`);
      try {
        const r = await fetch(`http://127.0.0.1:${port}/__boot_probe`);
        await r.body?.cancel();
        return true;
      } catch {
        return false;
      }
    },
    60_000,
    50,
  );
  return {
    port,
    pid: child.pid,
    async stop() {
      if (exited) return;
      try {
        child.kill("SIGTERM");
      } catch { /* gone */ }
      await status;
    },
  };
}

export function procStatus(pid: number): { rssKb: number; hwmKb: number } {
  const text = Deno.readTextFileSync(`/proc/${pid}/status`);
  const kb = (k: string) => Number(text.match(new RegExp(`^${k}:\\s+(\\d+)`, "m"))?.[1] ?? NaN);
  return { rssKb: kb("VmRSS"), hwmKb: kb("VmHWM") };
}

let clkTck: number | undefined;
/** Clock ticks per second of /proc's CPU times (USER_HZ, 100 on Linux). */
export function ticksPerSecond(): number {
  if (clkTck === undefined) {
    try {
      const out = new Deno.Command("getconf", { args: ["CLK_TCK"], stdout: "piped" }).outputSync();
      clkTck = Number(new TextDecoder().decode(out.stdout).trim()) || 100;
    } catch {
      clkTck = 100;
    }
  }
  return clkTck;
}

/** utime + stime of a process (all its threads), in ms; NaN when it is gone. */
export function cpuMs(pid: number): number {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    // Fields after the command name, which is in parentheses and may contain spaces.
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return ((Number(f[11]) + Number(f[12])) * 1000) / ticksPerSecond();
  } catch {
    return NaN;
  }
}

/** Pids whose command name (`/proc/<pid>/comm`) is `name`. */
export function pidsNamed(name: string): number[] {
  const out: number[] = [];
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      if (Deno.readTextFileSync(`/proc/${e.name}/comm`).trim() === name) out.push(Number(e.name));
    } catch { /* gone */ }
  }
  return out;
}

/** Busy and total CPU time of the whole machine (all cores) from /proc/stat, in ms. */
export function machineCpuMs(): { busy: number; total: number } {
  const line = Deno.readTextFileSync("/proc/stat").split("\n")[0];
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
  const idle = v[3] + v[4];
  const k = 1000 / ticksPerSecond();
  return { busy: (total - idle) * k, total: total * k };
}
