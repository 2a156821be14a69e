// Wakes process-jobs right after an enqueue so a new job starts at once instead of on the next
// cron tick (cron stays the safety net). Coalesced per isolate: at most one nudge in flight and
// one queued behind it, so a burst of POSTs costs two calls, not hundreds; and none at all while
// process-jobs has said it is listening for new jobs (it is woken by NOTIFY then).
import type { Config } from "../config.ts";

export function createNudger(config: Config, log: (msg: string) => void) {
  const url = `${config.SUPABASE_URL.replace(/\/$/, "")}/functions/v1/process-jobs`;
  let inFlight = false;
  let again = false;
  // Until then a process-jobs loop is listening for new jobs (NOTIFY): no HTTP nudge needed.
  let listeningUntil = 0;

  async function send(): Promise<void> {
    inFlight = true;
    try {
      const res = await fetch(url, {
        method: "POST",
        headers: {
          authorization: `Bearer ${config.PROCESS_JOBS_SECRET}`,
          "content-type": "application/json",
        },
        body: "{}",
        signal: AbortSignal.timeout(5_000),
      });
      const body = await res.json().catch(() => null) as { listening_until?: unknown } | null;
      const until = Number(body?.listening_until ?? 0);
      // A margin so a loop about to end is nudged again rather than trusted.
      listeningUntil = Number.isFinite(until) ? until - 500 : 0;
    } catch {
      log("process-jobs nudge failed; the cron tick will pick the job up");
    } finally {
      inFlight = false;
      if (again) {
        again = false;
        void send();
      }
    }
  }

  return function nudge(): void {
    if (Date.now() < listeningUntil) return;
    if (inFlight) {
      again = true;
      return;
    }
    inFlight = true;
    // After the current response is on its way: the caller's 202 does not wait for this fetch.
    setTimeout(() => void send(), 0);
  };
}
