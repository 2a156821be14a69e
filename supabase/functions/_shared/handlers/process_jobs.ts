// POST /process-jobs (cron via pg_net, and nudges from the generation functions). Answers at
// once and works in the background (EdgeRuntime.waitUntil on the platform), unless `?wait=true`
// asks for the summary. One loop per isolate: a nudge that arrives while it runs just wakes it.
import type { Context } from "hono";
import type { AppEnv } from "../app.ts";
import type { InvocationSummary } from "../jobs/worker.ts";

declare const EdgeRuntime: { waitUntil(p: Promise<unknown>): void } | undefined;

export function createProcessJobsHandler(worker: {
  runInvocation(budgetMs?: number): Promise<InvocationSummary>;
  wake(): void;
}) {
  let running: Promise<InvocationSummary> | null = null;

  function kick(): Promise<InvocationSummary> {
    if (running) {
      worker.wake();
      return running;
    }
    running = worker.runInvocation().finally(() => (running = null));
    // The loop handles its own errors; this keeps a surprise from becoming an unhandled rejection.
    running.catch(() => {});
    return running;
  }

  return async (c: Context<AppEnv>) => {
    const run = kick();
    if (c.req.query("wait") === "true") return c.json(await run, 200);
    if (typeof EdgeRuntime !== "undefined") EdgeRuntime.waitUntil(run);
    return c.json({ accepted: true }, 202);
  };
}
