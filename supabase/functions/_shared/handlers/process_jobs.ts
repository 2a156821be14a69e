// POST /process-jobs (cron via pg_net, and nudges from the generation functions). Answers at
// once and works in the background, registered with EdgeRuntime.waitUntil, for the
// invocation's budget and on while work is due (worker.runWhileDue); `?wait=true` instead
// processes what is due and answers with the summary.
// One loop per isolate: a nudge that arrives while it runs just wakes it. When the isolate is
// shut down, its leases are handed back so another invocation takes the jobs at once.
import type { Context } from "hono";
import type { AppEnv } from "../context.ts";
import type { Logger } from "../log.ts";
import { errorText } from "../log.ts";
import type { Worker } from "../jobs/worker.ts";
import { onShutdown, waitUntil } from "../runtime.ts";

export function createProcessJobsHandler(worker: Worker, deps: { log: Logger; nudge: () => void }) {
  const { log, nudge } = deps;
  let running: Promise<void> | null = null;

  onShutdown(async () => {
    try {
      const n = await worker.shutdown();
      if (n > 0) {
        log("info", "handed back leases on shutdown", { jobs: n });
        // Another invocation takes them now rather than on the next cron tick.
        nudge();
      }
    } catch (e) {
      log("warn", "could not hand back leases on shutdown", { error: errorText(e) });
    }
  });

  function kick(): Promise<void> {
    if (running) {
      worker.wake();
      return running;
    }
    running = worker.runWhileDue().finally(() => (running = null));
    return running;
  }

  return async (c: Context<AppEnv>) => {
    // A caller that waits gets a run of its own (processing what is due now), not the
    // long-lived loop's.
    if (c.req.query("wait") === "true") return c.json(await worker.runInvocation(), 200);
    waitUntil(kick());
    return c.json({ accepted: true }, 202);
  };
}
