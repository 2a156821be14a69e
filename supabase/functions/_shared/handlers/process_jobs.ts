// POST /process-jobs (cron via pg_net, and nudges from the generation functions). Answers at
// once and works in the background (EdgeRuntime.waitUntil on the platform) for the invocation's
// budget, listening for new jobs; `?wait=true` instead processes what is due and answers with
// the summary. One loop per isolate: a nudge that arrives while it runs just wakes it.
import type { Context } from "hono";
import type { AppEnv } from "../app.ts";
import type { InvocationSummary } from "../jobs/worker.ts";

const LISTEN_PROMISE_MS = 3_000;

declare const EdgeRuntime: { waitUntil(p: Promise<unknown>): void } | undefined;

export function createProcessJobsHandler(worker: {
  runInvocation(budgetMs?: number, opts?: { stayAlive?: boolean }): Promise<InvocationSummary>;
  wake(): void;
  listeningUntil(): number;
}) {
  let running: Promise<InvocationSummary> | null = null;

  function kick(): Promise<InvocationSummary> {
    if (running) {
      worker.wake();
      return running;
    }
    running = worker.runInvocation(undefined, { stayAlive: true }).finally(() => (running = null));
    // The loop handles its own errors; this keeps a surprise from becoming an unhandled rejection.
    running.catch(() => {});
    return running;
  }

  return async (c: Context<AppEnv>) => {
    // A caller that waits gets a run of its own (processing what is due now), not the
    // long-lived listening loop's.
    if (c.req.query("wait") === "true") return c.json(await worker.runInvocation(), 200);
    const run = kick();
    if (typeof EdgeRuntime !== "undefined") EdgeRuntime.waitUntil(run);
    // Tells nudgers they may rely on NOTIFY (and skip the HTTP nudge) for a short while: a
    // promise kept short, so an isolate that dies meanwhile delays new jobs by seconds at most.
    const until = Math.min(worker.listeningUntil(), Date.now() + LISTEN_PROMISE_MS);
    return c.json({ accepted: true, listening_until: until }, 202);
  };
}
