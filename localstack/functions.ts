// Runs each Edge Function from its own unchanged `supabase/functions/<name>/index.ts` in a
// separate Deno process (like the Edge Runtime's per-function workers), bound to a loopback
// port through DENO_SERVE_ADDRESS. A process that dies is started again on the next request,
// as the platform boots a fresh worker.
import { PROJECT_ROOT } from "./db/prepare.ts";

export interface FunctionConfig {
  name: string;
  verifyJwt: boolean;
}

/** Reads `[functions.<name>]` blocks and their `verify_jwt` from supabase/config.toml. */
export async function readFunctionConfig(): Promise<FunctionConfig[]> {
  const text = await Deno.readTextFile(`${PROJECT_ROOT}supabase/config.toml`);
  const fns: FunctionConfig[] = [];
  let current: FunctionConfig | null = null;
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    const header = line.match(/^\[functions\.([A-Za-z][A-Za-z0-9_-]*)\]$/);
    if (header) {
      current = { name: header[1], verifyJwt: true };
      fns.push(current);
      continue;
    }
    if (line.startsWith("[")) {
      current = null;
      continue;
    }
    const vj = line.match(/^verify_jwt\s*=\s*(true|false)/);
    if (vj && current) current.verifyJwt = vj[1] === "true";
  }
  return fns;
}

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

export class FunctionProcess {
  readonly name: string;
  readonly verifyJwt: boolean;
  port = 0;
  #env: Record<string, string>;
  #child: Deno.ChildProcess | null = null;
  #starting: Promise<void> | null = null;
  #stopping = false;
  #log: (line: string) => void;
  /** Bumped on every start so callers can tell a restarted process apart. */
  generation = 0;

  constructor(cfg: FunctionConfig, env: Record<string, string>, log: (line: string) => void) {
    this.name = cfg.name;
    this.verifyJwt = cfg.verifyJwt;
    this.#env = env;
    this.#log = log;
  }

  get running(): boolean {
    return this.#child !== null;
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /** Starts the process if it is not running and waits until it answers HTTP. */
  ensureRunning(): Promise<void> {
    if (this.#child) return Promise.resolve();
    if (!this.#starting) {
      this.#starting = this.#start().finally(() => (this.#starting = null));
    }
    return this.#starting;
  }

  async #start(): Promise<void> {
    this.port = freePort();
    const entry = `${PROJECT_ROOT}supabase/functions/${this.name}/index.ts`;
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--no-prompt", entry],
      cwd: PROJECT_ROOT,
      env: {
        ...this.#env,
        DENO_SERVE_ADDRESS: `tcp:127.0.0.1:${this.port}`,
        DENO_NO_PACKAGE_JSON: "1",
        DENO_NO_UPDATE_CHECK: "1",
      },
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#child = child;
    this.generation++;
    this.#pipe(child.stdout);
    this.#pipe(child.stderr);
    let exited = false;
    child.status.then((s) => {
      exited = true;
      if (this.#child === child) this.#child = null;
      if (!this.#stopping) this.#log(`exited (code ${s.code}${s.signal ? `, ${s.signal}` : ""})`);
    });
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      if (exited) throw new Error(`function ${this.name} exited during boot`);
      try {
        const res = await fetch(`http://127.0.0.1:${this.port}/__boot_probe`);
        await res.body?.cancel();
        return;
      } catch {
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    throw new Error(`function ${this.name} did not start within 60 s`);
  }

  async #pipe(stream: ReadableStream<Uint8Array>) {
    let buf = "";
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      buf += chunk;
      let i;
      while ((i = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        if (line && !line.startsWith("Listening on")) this.#log(line);
      }
    }
    if (buf) this.#log(buf);
  }

  /** Sends a signal (tests use SIGKILL to simulate a crashed worker). */
  kill(signal: Deno.Signal = "SIGKILL"): Promise<Deno.CommandStatus> | undefined {
    const child = this.#child;
    if (!child) return undefined;
    child.kill(signal);
    return child.status;
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    const child = this.#child;
    if (!child) return;
    try {
      child.kill("SIGTERM");
    } catch { /* already gone */ }
    const timer = setTimeout(() => {
      try {
        child.kill("SIGKILL");
      } catch { /* gone */ }
    }, 3000);
    await child.status;
    clearTimeout(timer);
    this.#child = null;
  }
}
