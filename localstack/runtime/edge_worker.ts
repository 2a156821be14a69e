// One Edge Function isolate: the process the runner (runtime/runner.ts) starts for a function.
// It keeps the rules of Supabase's Edge runtime that code can trip over:
// - `EdgeRuntime.waitUntil(promise)` is the only way to keep work alive after a response;
// - in EarlyDrop mode the isolate is retired as soon as it is idle (every response sent, every
//   waitUntil promise settled), so a timer scheduled after a response without waitUntil never
//   runs, as on the platform;
// - a `beforeunload` event is dispatched before any shutdown (retirement, the wall-clock limit,
//   termination), and work it registers with waitUntil gets a short grace period;
// - the wall clock is bounded: past EDGE_WALL_CLOCK_MS the isolate is shut down, and requests
//   still without a response get a 504 from the runner.
// The function's own `supabase/functions/<name>/index.ts` runs unchanged: its `Deno.serve`
// handler is captured and served here, so in-flight requests and deliveries can be counted.

const entry = Deno.env.get("EDGE_ENTRY");
const port = Number(Deno.env.get("EDGE_PORT"));
const earlyDrop = Deno.env.get("EDGE_EARLY_DROP") === "1";
const wallClockMs = Number(Deno.env.get("EDGE_WALL_CLOCK_MS") ?? 150_000);
/** Tests only (runner.ts, shutdownNoticeDelayMs): the runner hears of a shutdown this late. */
const noticeDelayMs = Number(Deno.env.get("EDGE_SHUTDOWN_NOTICE_DELAY_MS") ?? 0);
/** How long work registered during beforeunload may take before the isolate exits. */
const UNLOAD_GRACE_MS = 1_000;
if (!entry || !port) throw new Error("edge_worker: EDGE_ENTRY and EDGE_PORT are required");

const pending = new Set<Promise<unknown>>();
let inFlight = 0;
let served = 0;
let shuttingDown = false;

// The control channel to the runner: lines on stdout with this prefix (the rest is the
// function's own log), answers on stdin.
const CONTROL = "\u001e@edge ";
const say = (msg: Record<string, unknown>) => console.log(CONTROL + JSON.stringify(msg));

(globalThis as unknown as { EdgeRuntime: unknown }).EdgeRuntime = {
  waitUntil(p: Promise<unknown>): void {
    const tracked = Promise.resolve(p).catch(() => {}).finally(() => {
      pending.delete(tracked);
      idleCheck();
    });
    pending.add(tracked);
  },
};

type Handler = (req: Request, info: Deno.ServeHandlerInfo) => Response | Promise<Response>;
let handler: Handler | null = null;
// The function calls Deno.serve(handler) or Deno.serve(options, handler) (or { fetch }).
const realServe = Deno.serve;
(Deno as unknown as { serve: unknown }).serve = (a: unknown, b?: unknown) => {
  const h = typeof a === "function"
    ? a
    : typeof b === "function"
    ? b
    : (a as { handler?: Handler; fetch?: Handler })?.handler ?? (a as { fetch?: Handler })?.fetch;
  if (typeof h !== "function") throw new Error("edge_worker: no handler given to Deno.serve");
  handler = h as Handler;
  return { finished: new Promise(() => {}), shutdown: () => Promise.resolve(), addr: {} };
};

// In EarlyDrop mode the runner is told how busy the isolate is whenever that changes: it routes
// a request here only while the isolate is working anyway, and retires it once it is idle.
/** Answer header of a request refused because this isolate is shutting down (runner.ts). */
const RETIRING = "x-edge-retiring";

let reportTimer: ReturnType<typeof setTimeout> | undefined;
function idleCheck(): void {
  if (!earlyDrop || shuttingDown || served === 0) return;
  // Sent on the next turn so a response's own follow-up microtasks settle first.
  clearTimeout(reportTimer);
  reportTimer = setTimeout(() => {
    if (!shuttingDown) say({ type: "state", served, inFlight, pending: pending.size });
  }, 0);
}

async function shutdown(reason: string): Promise<never> {
  if (shuttingDown) return await new Promise<never>(() => {});
  shuttingDown = true;
  if (noticeDelayMs > 0) setTimeout(() => say({ type: "shutdown", reason }), noticeDelayMs);
  else say({ type: "shutdown", reason });
  const ev = new CustomEvent("beforeunload", { detail: { reason } });
  globalThis.dispatchEvent(ev);
  const grace = new Promise((r) => setTimeout(r, UNLOAD_GRACE_MS));
  await Promise.race([Promise.all([...pending]), grace]);
  Deno.exit(0);
}

// The wall clock runs from the isolate's first request (a pre-started spare waits for free).
let wallClock: ReturnType<typeof setTimeout> | undefined;

await import(new URL(entry, `file://${Deno.cwd()}/`).href);
if (!handler) throw new Error(`edge_worker: ${entry} did not call Deno.serve`);
const fnHandler: Handler = handler;

const server = realServe(
  { hostname: "127.0.0.1", port, onListen: () => say({ type: "ready" }) },
  async (req, info) => {
    if (new URL(req.url).pathname === "/__edge_probe") return new Response("ok");
    // A request without a body that reaches an isolate already shutting down does not run here
    // (the exit could cut it off): the platform sends it to another isolate, and so does the
    // runner on this answer. One with a body runs as before (the runner cannot send it again).
    if (shuttingDown && req.body === null) {
      return new Response(null, { status: 503, headers: { [RETIRING]: "1" } });
    }
    inFlight++;
    served++;
    wallClock ??= setTimeout(() => void shutdown("WallClockTime"), wallClockMs);
    info.completed.finally(() => {
      inFlight--;
      idleCheck();
    });
    try {
      const res = await fnHandler(req, info);
      if (!earlyDrop) return res;
      // What the runner needs at once to route the next request (the idle report comes later):
      // whether this isolate still has background work.
      const headers = new Headers(res.headers);
      headers.set("x-edge-pending", String(pending.size));
      return new Response(res.body, { status: res.status, statusText: res.statusText, headers });
    } catch (e) {
      // The platform answers an unhandled throw with 500 and keeps the isolate.
      console.error(`uncaught in handler: ${e instanceof Error ? e.stack : e}`);
      return new Response(JSON.stringify({ code: "WORKER_ERROR", message: "Internal error" }), {
        status: 500,
        headers: { "content-type": "application/json" },
      });
    }
  },
);

// Commands from the runner, one per line.
(async () => {
  const lines = Deno.stdin.readable.pipeThrough(new TextDecoderStream());
  let buf = "";
  for await (const chunk of lines) {
    buf += chunk;
    let i;
    while ((i = buf.indexOf("\n")) >= 0) {
      const cmd = buf.slice(0, i).trim();
      buf = buf.slice(i + 1);
      if (cmd === "retire") {
        await server.shutdown();
        await shutdown("EarlyDrop");
      } else if (cmd === "terminate") {
        await shutdown("TerminationRequested");
      }
    }
  }
  // The runner is gone: nobody can route requests here any more.
  await shutdown("TerminationRequested");
})();

Deno.addSignalListener("SIGTERM", () => void shutdown("TerminationRequested"));
