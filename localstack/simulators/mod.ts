/**
 * Shared plumbing of the provider simulators (Tripo: ./tripo.ts, OpenAI: ./openai.ts):
 * the request log, the fault-injection engine, prompt markers and a loopback server helper.
 *
 * Fault objects (set through `POST /__sim/config {"faults":[…]}` on either simulator):
 *   { "match": "POST /v2/openapi/task",  // "METHOD /path" or "/path"; `*` matches any run of
 *                                         // characters except "/" (`**` also crosses "/")
 *     "kind": "status" | "reset" | "delay" | "malformed" | "truncate" | "stuck" | "outcome",
 *                                         // default status
 *     "status": 503,            // for kind "status" (default 500)
 *     "code": 1000,             // optional provider error code (Tripo int / OpenAI string)
 *     "retryAfter": 2,          // seconds, sent as Retry-After
 *     "delayMs": 1000,          // for "delay" (then the request proceeds normally)
 *     "truncateAt": 1000,       // for "truncate" on file downloads (bytes sent before cutting)
 *     "landed": false,          // "status": also run the real handler first (response lost)
 *     "times": 1,               // how many matching requests it hits (default 1; -1 = forever)
 *     "taskType": "convert_model",  // Tripo POST /v2/openapi/task only: match only bodies of
 *                                   // this `type` (other requests never match such a fault)
 *     "outcome": "failed",      // for "outcome" (Tripo POST /task): the task is created
 *                               // normally and ends so: success|failed|banned|expired|
 *                               // cancelled|unknown|stuck (default failed)
 *     "runMs": 5000 }           // for "outcome": the running phase lasts this long
 * `reset` and `malformed` always run the real handler first (the request landed; the answer was
 * lost: headers then an aborted body, or a 200 with unparsable JSON). `stuck` (Tripo POST /task)
 * creates a task that stays running forever.
 */

export interface SimFault {
  match: string;
  kind?: "status" | "reset" | "delay" | "malformed" | "truncate" | "stuck" | "outcome";
  status?: number;
  code?: number | string;
  message?: string;
  retryAfter?: number;
  delayMs?: number;
  truncateAt?: number;
  landed?: boolean;
  times?: number;
  taskType?: string;
  outcome?: string;
  runMs?: number;
}

function globToRegExp(glob: string): RegExp {
  const esc = (t: string) => t.replace(/[.+?^${}()|[\]\\]/g, "\\$&").replace(/\*/g, "[^/]*");
  return new RegExp("^" + glob.split("**").map(esc).join(".*") + "$");
}

export class FaultEngine {
  private faults: (SimFault & { re: RegExp; method?: string; left: number })[] = [];

  set(list: SimFault[]): void {
    this.faults = list.map((f) => {
      if (!f || typeof f.match !== "string") throw new Error("fault.match must be a string");
      const m = f.match.trim().match(/^(?:([A-Z]+)\s+)?(\S+)$/);
      if (!m) throw new Error(`bad fault.match ${f.match}`);
      const re = globToRegExp(m[2]);
      return { ...f, re, method: m[1], left: f.times ?? 1 };
    });
  }

  list(): SimFault[] {
    return this.faults.map(({ re: _re, method: _m, left, ...f }) => ({ ...f, times: left }));
  }

  /** The first live fault matching the request; `ctx.taskType` is the body's Tripo task type. */
  take(method: string, path: string, ctx: { taskType?: string } = {}): SimFault | undefined {
    for (const f of this.faults) {
      if (f.left === 0) continue;
      if (f.method && f.method !== method) continue;
      if (!f.re.test(path)) continue;
      if (f.taskType !== undefined && f.taskType !== ctx.taskType) continue;
      if (f.left > 0) f.left--;
      return f;
    }
    return undefined;
  }
}

export interface LogEntry {
  seq: number;
  time: string;
  method: string;
  path: string;
  query: string;
  authOk: boolean | null;
  keyId?: string;
  status?: number;
  fault?: string;
  body?: unknown;
}

export class RequestLog {
  private entries: LogEntry[] = [];
  private seq = 0;

  add(e: Omit<LogEntry, "seq" | "time">): LogEntry {
    const entry = { seq: ++this.seq, time: new Date().toISOString(), ...e };
    this.entries.push(entry);
    if (this.entries.length > 20000) this.entries.splice(0, 5000);
    return entry;
  }

  clear(): void {
    this.entries = [];
  }

  /** Filters: since (seq, exclusive), method, path (exact or with `*`), contains (substring). */
  query(q: URLSearchParams): { requests: LogEntry[]; last: number } {
    const since = Number(q.get("since") ?? 0);
    const method = q.get("method");
    const path = q.get("path");
    const contains = q.get("contains");
    const pathRe = path
      ? new RegExp("^" + path.replace(/[.+?^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*") + "$")
      : null;
    const requests = this.entries.filter((e) =>
      e.seq > since && (!method || e.method === method) && (!pathRe || pathRe.test(e.path)) &&
      (!contains || JSON.stringify(e.body ?? null).includes(contains))
    );
    return { requests, last: this.seq };
  }
}

/** Short, non-reversible fingerprint of an API key for logs (never the key itself). */
export async function keyFingerprint(key: string): Promise<string> {
  const d = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(key)));
  return Array.from(d.subarray(0, 4), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Strings are cut to keep logs small; nested objects are kept. */
export function summarize(v: unknown, depth = 0): unknown {
  if (typeof v === "string") return v.length > 300 ? `${v.slice(0, 300)}…(${v.length})` : v;
  if (Array.isArray(v)) return depth > 4 ? "[…]" : v.map((x) => summarize(x, depth + 1));
  if (v && typeof v === "object") {
    if (depth > 4) return "{…}";
    return Object.fromEntries(
      Object.entries(v as Record<string, unknown>).map(([k, x]) => [k, summarize(x, depth + 1)]),
    );
  }
  return v;
}

/**
 * Markers in free text: `[sim:name]` or `[sim:name=123]`; also `__sim-name__` /
 * `__sim-name-123__` for file names and URLs, where brackets are awkward.
 */
export function parseMarkers(...texts: (string | undefined | null)[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const t of texts) {
    if (!t) continue;
    for (const m of t.matchAll(/\[sim:([a-z0-9_-]+?)(?:=(\d+))?\]/gi)) {
      out.set(m[1].toLowerCase(), m[2] ?? "");
    }
    for (const m of t.matchAll(/__sim-([a-z0-9_]+?)(?:-(\d+))?__/gi)) {
      out.set(m[1].toLowerCase().replace(/_/g, "-"), m[2] ?? "");
    }
  }
  return out;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export function json(status: number, body: unknown, headers: Record<string, string> = {}) {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json", ...headers },
  });
}

/** Sends the status line and headers, then aborts the body: the connection breaks mid-answer. */
export function brokenResponse(headers: Record<string, string> = {}): Response {
  let first = true;
  const body = new ReadableStream<Uint8Array>({
    pull(c) {
      if (first) {
        first = false;
        c.enqueue(new TextEncoder().encode('{"code":0,"da'));
        return;
      }
      c.error(new Error("simulated connection reset"));
    },
  });
  return new Response(body, {
    status: 200,
    headers: { "content-type": "application/json", "content-length": "4096", ...headers },
  });
}

export interface Simulator {
  fetch(req: Request): Promise<Response>;
}

export interface ServedSimulator<S extends Simulator> {
  url: string;
  sim: S;
  close(): Promise<void>;
}

/** Serves a simulator on loopback; `port: 0` picks a free port. */
export function serveSimulator<S extends Simulator>(
  make: (publicUrl: string) => S,
  opts: { port?: number; hostname?: string } = {},
): ServedSimulator<S> {
  const hostname = opts.hostname ?? "127.0.0.1";
  const holder: { sim?: S } = {};
  const server = Deno.serve(
    { port: opts.port ?? 0, hostname, onListen: () => {} },
    (req) =>
      holder.sim
        ? holder.sim.fetch(req)
        : Promise.resolve(new Response("starting", { status: 503 })),
  );
  const url = `http://${hostname}:${server.addr.port}`;
  const sim = make(url);
  holder.sim = sim;
  return { url, sim, close: () => server.shutdown() };
}

export function parseRetryAfterConfig(v: unknown, dflt: number): number {
  return typeof v === "number" && Number.isFinite(v) && v >= 0 ? v : dflt;
}

/**
 * The control API both simulators share (`/__sim/requests`, `/stats`, `/config`, `/reset`);
 * `extra` serves a simulator's own routes first and returns null for the rest.
 */
export async function handleControl(req: Request, url: URL, sim: {
  log: RequestLog;
  stats: unknown;
  faults: FaultEngine;
  config: () => Record<string, unknown>;
  /** Merges a POSTed config body (faults excepted). */
  applyConfig: (body: Record<string, unknown>) => void;
  reset: () => void;
  extra?: (readJson: () => Promise<Record<string, unknown>>) => Promise<Response | null>;
}): Promise<Response> {
  const p = url.pathname;
  const readJson = async () => {
    const t = await req.text();
    return t.trim() ? JSON.parse(t) : {};
  };
  try {
    if (p === "/__sim/requests" && req.method === "GET") {
      return json(200, sim.log.query(url.searchParams));
    }
    if (p === "/__sim/stats" && req.method === "GET") return json(200, sim.stats);
    const own = await sim.extra?.(readJson);
    if (own) return own;
    if (p === "/__sim/config" && req.method === "GET") {
      return json(200, { ...sim.config(), faults: sim.faults.list() });
    }
    if (p === "/__sim/config" && req.method === "POST") {
      const b = await readJson();
      sim.applyConfig(b);
      if (Array.isArray(b.faults)) sim.faults.set(b.faults);
      return json(200, { ...sim.config(), faults: sim.faults.list() });
    }
    if (p === "/__sim/reset" && req.method === "POST") {
      const b = await readJson();
      if (b.scope === "log") sim.log.clear();
      else sim.reset();
      return json(200, { ok: true });
    }
  } catch (e) {
    return json(400, { error: (e as Error).message });
  }
  return json(404, { error: "unknown control route" });
}
