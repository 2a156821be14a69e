// Wakes process-jobs right after an enqueue so a new job starts at once instead of on the next
// cron tick (cron stays the safety net). While a process-jobs loop has said it is listening, the
// wake-up is a NOTIFY (bff.wake_workers); otherwise an HTTP call starts one. Coalesced per
// isolate: at most one wake-up in flight and one queued behind it, so a burst of POSTs costs two
// calls, not hundreds, and every enqueue is followed by a wake-up sent after its commit.
import type { Config } from "../config.ts";

export interface NudgeDb {
  wakeWorkers(): Promise<void>;
}

export function createNudger(config: Config, db: NudgeDb, log: (msg: string) => void) {
  const url = `${config.SUPABASE_URL.replace(/\/$/, "")}/functions/v1/process-jobs`;
  let inFlight = false;
  let again = false;
  // Until then a process-jobs loop is listening for NOTIFY: no HTTP call needed.
  let listeningUntil = 0;

  async function callProcessJobs(): Promise<void> {
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
    // A margin so a loop about to end is called again rather than trusted.
    listeningUntil = Number.isFinite(until) ? until - 500 : 0;
  }

  async function send(): Promise<void> {
    inFlight = true;
    try {
      if (Date.now() < listeningUntil) await db.wakeWorkers();
      else await callProcessJobs();
    } catch {
      log("process-jobs wake-up failed; the cron tick will pick the job up");
    } finally {
      inFlight = false;
      if (again) {
        again = false;
        void send();
      }
    }
  }

  return function nudge(): void {
    if (inFlight) {
      again = true;
      return;
    }
    inFlight = true;
    // After the current response is on its way: the caller's 202 does not wait for this.
    setTimeout(() => void send(), 0);
  };
}
