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

export function createProcessJobsHandler(
  worker: Worker,
  deps: { log: Logger; nudge: () => Promise<void> },
) {
  const { log, nudge } = deps;
  let running: Promise<void> | null = null;

  onShutdown(async () => {
    try {
      const looping = running !== null;
      const n = await worker.shutdown();
      if (n > 0) log("info", "handed back leases on shutdown", { jobs: n });
      // Another invocation takes the handed-back jobs now rather than on the next cron tick, and
      // so too the work this isolate's loop was waiting for: between two polls of a Tripo task
      // the job holds no lease, and an isolate retired then (the wall clock ends long-running
      // loops routinely) would otherwise leave every running model unpolled until the tick.
      // Awaited: work registered after beforeunload's own may not run before the isolate exits.
      if (n > 0 || (looping && await worker.dueSoon())) await nudge();
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
