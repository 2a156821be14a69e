// HTTP load generators, run in Web Workers so their event loops do not share a thread with the
// gateway, Storage, Auth and the simulators, which live in the benchmark's main isolate.
// - "closed": each of `concurrency` loops sends its next generation POST as soon as the
//   previous one answered (the latency figures).
// - "paced": sends the given requests at a fixed rate without waiting for answers (background
//   work in the busy-worker scenario).

export interface LoadRequest {
  mode?: "closed";
  url: string;
  requests: number;
  concurrency: number;
  tokens: string[];
  /** Unique per run: task ids are `${prefix}-${i}`, so no request is an idempotent replay. */
  prefix: string;
}

export interface LoadResult {
  latenciesMs: number[];
  /** When each request was sent, in epoch ms (performance.timeOrigin + now). */
  startedAt: number[];
  statuses: Record<string, number>;
  wallMs: number;
}

export interface PacedRequest {
  mode: "paced";
  perSecond: number;
  requests: { url: string; headers: Record<string, string>; body: string }[];
}

/** Ends a running paced run early (it reports what it sent). */
export interface StopRequest {
  mode: "stop";
}

export interface PacedResult {
  statuses: Record<string, number>;
  /** Response bodies of the 202s (job ids). */
  bodies: string[];
  wallMs: number;
}

const now = () => performance.timeOrigin + performance.now();

async function closed(req: LoadRequest): Promise<LoadResult> {
  const latencies = new Float64Array(req.requests);
  const startedAt = new Float64Array(req.requests);
  const statuses: Record<string, number> = {};
  let next = 0;
  const loop = async () => {
    for (;;) {
      const i = next++;
      if (i >= req.requests) return;
      const body = JSON.stringify({ task_id: `${req.prefix}-${i}`, prompt: `bench prompt ${i}` });
      const t0 = performance.now();
      startedAt[i] = performance.timeOrigin + t0;
      let status = "error";
      try {
        const res = await fetch(req.url, {
          method: "POST",
          headers: {
            authorization: `Bearer ${req.tokens[i % req.tokens.length]}`,
            "content-type": "application/json",
          },
          body,
        });
        await res.arrayBuffer();
        status = String(res.status);
      } catch {
        // counted as "error" below
      }
      latencies[i] = performance.now() - t0;
      statuses[status] = (statuses[status] ?? 0) + 1;
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: req.concurrency }, loop));
  return {
    latenciesMs: Array.from(latencies),
    startedAt: Array.from(startedAt),
    statuses,
    wallMs: performance.now() - started,
  };
}

let stopped = false;

async function paced(req: PacedRequest): Promise<PacedResult> {
  stopped = false;
  const statuses: Record<string, number> = {};
  const bodies: string[] = [];
  const started = now();
  const sent: Promise<void>[] = [];
  for (let i = 0; i < req.requests.length; i++) {
    const wait = started + (i * 1000) / req.perSecond - now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    if (stopped) break;
    const r = req.requests[i];
    sent.push((async () => {
      let status = "error";
      try {
        const res = await fetch(r.url, { method: "POST", headers: r.headers, body: r.body });
        const text = await res.text();
        status = String(res.status);
        if (res.status === 202) bodies.push(text);
      } catch { /* counted as "error" */ }
      statuses[status] = (statuses[status] ?? 0) + 1;
    })());
  }
  await Promise.all(sent);
  return { statuses, bodies, wallMs: now() - started };
}

const scope = self as unknown as {
  onmessage: ((e: MessageEvent<LoadRequest | PacedRequest | StopRequest>) => void) | null;
  postMessage(msg: LoadResult | PacedResult): void;
};
scope.onmessage = async (e) => {
  const req = e.data;
  if (req.mode === "stop") stopped = true;
  else scope.postMessage(req.mode === "paced" ? await paced(req) : await closed(req));
};
