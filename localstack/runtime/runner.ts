// Runs each Edge Function from its own unchanged `supabase/functions/<name>/index.ts` in
// isolates of its own, as Supabase's Edge runtime does: one Deno process per isolate, started
// through runtime/edge_worker.ts (EdgeRuntime.waitUntil, beforeunload, the wall clock). An
// isolate that dies is replaced on the next request, as the platform boots a fresh worker.
//
// EarlyDrop mode retires an isolate the moment it is idle, after every response: code that
// relies on an isolate living on after its response (a bare setTimeout, per-isolate state)
// fails here as it can on the platform. A spare isolate is kept booted so requests do not pay
// the boot. Retirement is a handshake: the isolate reports idle with the number of requests it
// has received; the runner agrees only if it has sent no more than that, so no request is ever
// routed to an isolate that is leaving.
import { PROJECT_ROOT } from "../db/prepare.ts";

const WORKER = `${PROJECT_ROOT}localstack/runtime/edge_worker.ts`;
const CONTROL = "\u001e@edge ";

export interface FunctionConfig {
  name: string;
  verifyJwt: boolean;
  /** The entry module, relative to the project root; default supabase/functions/<name>/index.ts. */
  entry?: string;
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

export interface RuntimeOptions {
  /** Retire every isolate as soon as it is idle (default false). */
  earlyDrop?: boolean;
  /** Wall clock of an isolate from its first request; default 150 000 ms (the Free plan). */
  wallClockMs?: number;
  /**
   * Tests only: how long an isolate that begins to shut down keeps that from the runner, which
   * meanwhile still routes requests to it (the window the platform's router has too). Default 0.
   */
  shutdownNoticeDelayMs?: number;
}

/** One isolate: a process serving one function. */
export class Isolate {
  readonly port = freePort();
  readonly child: Deno.ChildProcess;
  readonly ready: Promise<void>;
  readonly exited: Promise<Deno.CommandStatus>;
  /** Requests routed here (compared with the isolate's own count at retirement). */
  dispatched = 0;
  /** Requests whose response has not been fully passed on yet. */
  inFlight = 0;
  /** What the isolate last said of itself (EarlyDrop mode only). */
  state = { served: 0, inFlight: 0, pending: 0 };
  retiring = false;
  dead = false;
  shutdownReason: string | null = null;
  #stdin: WritableStreamDefaultWriter<Uint8Array>;

  constructor(
    readonly name: string,
    entry: string,
    env: Record<string, string>,
    opts: RuntimeOptions,
    private readonly log: (line: string) => void,
    private readonly onState: (iso: Isolate) => void,
  ) {
    this.child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--no-prompt", WORKER],
      cwd: PROJECT_ROOT,
      env: {
        ...env,
        EDGE_ENTRY: entry,
        EDGE_PORT: String(this.port),
        EDGE_EARLY_DROP: opts.earlyDrop ? "1" : "0",
        EDGE_WALL_CLOCK_MS: String(opts.wallClockMs ?? 150_000),
        EDGE_SHUTDOWN_NOTICE_DELAY_MS: String(opts.shutdownNoticeDelayMs ?? 0),
        DENO_NO_PACKAGE_JSON: "1",
        DENO_NO_UPDATE_CHECK: "1",
      },
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#stdin = this.child.stdin.getWriter();
    let markReady: () => void = () => {};
    let failBoot: (e: Error) => void = () => {};
    this.ready = new Promise<void>((resolve, reject) => {
      markReady = resolve;
      failBoot = reject;
    });
    this.ready.catch(() => {});
    this.#pipe(this.child.stdout, (msg) => {
      if (msg.type === "ready") markReady();
      else if (msg.type === "state") {
        this.state = {
          served: Number(msg.served),
          inFlight: Number(msg.inFlight),
          pending: Number(msg.pending),
        };
        this.onState(this);
      } else if (msg.type === "shutdown") {
        // Shutting down: no new request is routed here (the platform sends it to a fresh one).
        this.shutdownReason = String(msg.reason);
        this.onState(this);
      }
    });
    this.#pipe(this.child.stderr, () => {});
    this.exited = this.child.status.then((s) => {
      this.dead = true;
      failBoot(new Error(`function ${name} exited during boot (code ${s.code})`));
      return s;
    });
    const boot = setTimeout(() => failBoot(new Error(`${name} did not boot in 60 s`)), 60_000);
    this.ready.finally(() => clearTimeout(boot)).catch(() => {});
  }

  get pid(): number {
    return this.child.pid;
  }

  /** Working anyway: a request in flight or in transit, or background (waitUntil) work. */
  get busy(): boolean {
    return this.inFlight > 0 || this.state.pending > 0;
  }

  send(cmd: "retire" | "terminate"): void {
    this.#stdin.write(new TextEncoder().encode(`${cmd}\n`)).catch(() => {});
  }

  kill(signal: Deno.Signal): void {
    try {
      this.child.kill(signal);
    } catch { /* already gone */ }
  }

  /** Shuts the isolate down as the platform does (beforeunload first), SIGKILL after 3 s. */
  async stop(): Promise<void> {
    if (this.dead) return;
    this.kill("SIGTERM");
    const t = setTimeout(() => this.kill("SIGKILL"), 3000);
    await this.exited;
    clearTimeout(t);
  }

  async #pipe(stream: ReadableStream<Uint8Array>, control: (m: Record<string, unknown>) => void) {
    let buf = "";
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      buf += chunk;
      let i;
      while ((i = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        if (line.startsWith(CONTROL)) control(JSON.parse(line.slice(CONTROL.length)));
        else if (line) this.log(line);
      }
    }
    if (buf) this.log(buf);
  }
}

/** All isolates of one function, and the routing of its requests. */
export class FunctionRunner {
  readonly name: string;
  readonly verifyJwt: boolean;
  readonly entry: string;
  /** Bumped on every isolate start, so tests can tell a restarted function apart. */
  generation = 0;
  #active: Isolate | null = null;
  #spare: Isolate | null = null;
  /** Every isolate still alive (retiring ones and extra workers included), for stop(). */
  #alive = new Set<Isolate>();
  #stopping = false;

  constructor(
    cfg: FunctionConfig,
    private env: Record<string, string>,
    private readonly opts: RuntimeOptions,
    private readonly log: (line: string) => void,
  ) {
    this.name = cfg.name;
    this.verifyJwt = cfg.verifyJwt;
    this.entry = cfg.entry ?? `supabase/functions/${cfg.name}/index.ts`;
  }

  /** The environment isolates are started with (replacing it affects new isolates only). */
  get functionEnv(): Record<string, string> {
    return this.env;
  }

  get running(): boolean {
    return this.#active !== null && !this.#active.dead;
  }

  get pid(): number | undefined {
    return this.#active?.dead ? undefined : this.#active?.pid;
  }

  get port(): number | undefined {
    return this.#active?.port;
  }

  /** Starts an isolate of this function outside the routing (extra workers in tests). */
  spawn(): Isolate {
    this.generation++;
    const iso = new Isolate(this.name, this.entry, this.env, this.opts, this.log, (iso) => {
      if (iso.shutdownReason && this.#active === iso) this.#active = null;
      else if (this.opts.earlyDrop && !iso.busy) this.#retire(iso);
    });
    this.#alive.add(iso);
    iso.exited.then(() => this.#alive.delete(iso));
    return iso;
  }

  /** EarlyDrop: an idle isolate is retired; no request is routed to it from here on. */
  #retire(iso: Isolate): void {
    if (iso !== this.#active || iso.retiring) return;
    iso.retiring = true;
    this.#active = null;
    iso.send("retire");
    if (!this.#stopping) this.#warmSpare();
  }

  #warmSpare(): void {
    if (!this.opts.earlyDrop || this.#spare) return;
    const spare = this.spawn();
    this.#spare = spare;
    spare.exited.then(() => {
      if (this.#spare === spare) this.#spare = null;
    });
  }

  /** The isolate the next request goes to, started (or promoted from the spare) if needed. */
  async ensureRunning(): Promise<Isolate> {
    for (let i = 0; i < 3; i++) {
      let iso = this.#active;
      if (!iso || iso.dead || iso.retiring) {
        iso = this.#spare && !this.#spare.dead ? this.#spare : this.spawn();
        if (iso === this.#spare) this.#spare = null;
        this.#active = iso;
        this.#warmSpare();
      }
      try {
        await iso.ready;
        return iso;
      } catch (e) {
        if (this.#active === iso) this.#active = null;
        if (i === 2) throw e;
      }
    }
    throw new Error("unreachable");
  }

  /** Sends one request to the function (path includes the function's own first segment). */
  async fetch(pathAndQuery: string, init: RequestInit, attempt = 0): Promise<Response> {
    // The stack is stopping: no new isolate (one started now would outlive stop()). A request
    // sent now (a shutting-down isolate's wake-up) is refused as an unavailable function.
    if (this.#stopping) {
      return platformError(503, "WORKER_UNAVAILABLE", "Function is shutting down");
    }
    const iso = await this.ensureRunning();
    iso.dispatched++;
    iso.inFlight++;
    let res: Response;
    try {
      res = await fetch(`http://127.0.0.1:${iso.port}${pathAndQuery}`, init);
    } catch (e) {
      iso.inFlight--;
      await Promise.race([iso.exited, new Promise((r) => setTimeout(r, 200))]);
      if (iso.shutdownReason && init.body == null && attempt < 2 && refused(e)) {
        // The isolate had exited before this request reached it: it never ran; a fresh one takes it.
        if (this.#active === iso) this.#active = null;
        return await this.fetch(pathAndQuery, init, attempt + 1);
      }
      if (iso.shutdownReason === "WallClockTime") {
        return platformError(504, "WORKER_TIMEOUT", "Function exceeded the wall clock limit");
      }
      this.log(`[runner] ${this.name}: ${(e as Error).message}`);
      // The isolate died under the request (crash or kill): the platform answers 500.
      return platformError(
        500,
        "WORKER_ERROR",
        "Function exited due to an error (please check logs)",
      );
    }
    if (res.headers.get("x-edge-retiring") && attempt < 2) {
      // It reached an isolate that had begun to shut down, and never ran: send it to a fresh one
      // (ensureRunning no longer picks the retiring isolate).
      iso.inFlight--;
      await res.body?.cancel();
      iso.shutdownReason ??= "retiring";
      if (this.#active === iso) this.#active = null;
      return await this.fetch(pathAndQuery, init, attempt + 1);
    }
    const pending = res.headers.get("x-edge-pending");
    if (pending !== null) iso.state = { ...iso.state, pending: Number(pending) };
    const headers = new Headers(res.headers);
    headers.delete("x-edge-pending");
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      iso.inFlight--;
      if (this.opts.earlyDrop && !iso.busy) this.#retire(iso);
    };
    if (!res.body) {
      finish();
      return new Response(null, { status: res.status, headers });
    }
    const body = res.body.pipeThrough(new TransformStream({ flush: finish }));
    // A client that goes away mid-body ends the request too.
    const reader = body.getReader();
    const passed = new ReadableStream<Uint8Array>({
      async pull(c) {
        const { value, done: end } = await reader.read().catch((e) => {
          finish();
          throw e;
        });
        if (end) c.close();
        else c.enqueue(value);
      },
      cancel(reason) {
        finish();
        return reader.cancel(reason);
      },
    });
    return new Response(passed, { status: res.status, headers });
  }

  /** Sends a signal to the active isolate (SIGKILL simulates a crashed worker). */
  kill(signal: Deno.Signal = "SIGKILL"): Promise<Deno.CommandStatus> | undefined {
    const iso = this.#active;
    if (!iso || iso.dead) return undefined;
    iso.kill(signal);
    return iso.exited;
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    this.#active = this.#spare = null;
    await Promise.all([...this.#alive].map((iso) => iso.stop()));
  }
}

export function platformError(status: number, code: string, message: string): Response {
  return new Response(JSON.stringify({ code, message }), {
    status,
    headers: { "content-type": "application/json", "sb-error-code": code },
  });
}

/** A fetch that failed because nothing listened any more (the request was never received). */
function refused(e: unknown): boolean {
  for (let c: unknown = e; c; c = (c as { cause?: unknown }).cause) {
    if (c instanceof Deno.errors.ConnectionRefused) return true;
    if (/connection refused/i.test(String((c as Error).message ?? c))) return true;
  }
  return false;
}
