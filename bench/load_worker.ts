// Closed-loop HTTP load generator, run in a Web Worker so its event loop does not share a
// thread with the gateway and simulators that live in the benchmark's main isolate.
// Each of `concurrency` loops sends its next request as soon as the previous one answered.

export interface LoadRequest {
  url: string;
  requests: number;
  concurrency: number;
  tokens: string[];
  /** Unique per run: task ids are `${prefix}-${i}`, so no request is an idempotent replay. */
  prefix: string;
}

export interface LoadResult {
  latenciesMs: number[];
  statuses: Record<string, number>;
  wallMs: number;
}

async function run(req: LoadRequest): Promise<LoadResult> {
  const latencies = new Float64Array(req.requests);
  const statuses: Record<string, number> = {};
  let next = 0;
  const loop = async () => {
    for (;;) {
      const i = next++;
      if (i >= req.requests) return;
      const body = JSON.stringify({ task_id: `${req.prefix}-${i}`, prompt: `bench prompt ${i}` });
      const t0 = performance.now();
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
  return { latenciesMs: Array.from(latencies), statuses, wallMs: performance.now() - started };
}

const scope = self as unknown as {
  onmessage: ((e: MessageEvent<LoadRequest>) => void) | null;
  postMessage(msg: LoadResult): void;
};
scope.onmessage = async (e) => {
  scope.postMessage(await run(e.data));
};
