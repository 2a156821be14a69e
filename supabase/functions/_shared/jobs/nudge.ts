// Wakes process-jobs right after an enqueue so a new job starts at once instead of on the next
// cron tick (cron stays the safety net). While a process-jobs loop has said it is listening, the
// wake-up is a NOTIFY (bff.wake_workers); otherwise an HTTP call starts one. Coalesced per
// isolate: at most one wake-up in flight and one queued behind it, and at most one started per
// MIN_GAP_MS, so a burst of POSTs costs a few calls, not hundreds; every enqueue is still
// followed by a wake-up sent after its commit. A lone POST's wake-up goes out at once.
import type { Config } from "../config.ts";

export interface NudgeDb {
  wakeWorkers(): Promise<void>;
}

/** Under load, wake-ups are spaced this far apart (a job waits at most this much longer). */
const MIN_GAP_MS = 5;

export function createNudger(config: Config, db: NudgeDb, log: (msg: string) => void) {
  const url = `${config.SUPABASE_URL.replace(/\/$/, "")}/functions/v1/process-jobs`;
  let inFlight = false;
  let again = false;
  let scheduled = false;
  let lastSent = 0;
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

  function schedule(): void {
    scheduled = true;
    const wait = Math.max(0, lastSent + MIN_GAP_MS - Date.now());
    setTimeout(() => {
      scheduled = false;
      void send();
    }, wait);
  }

  async function send(): Promise<void> {
    inFlight = true;
    lastSent = Date.now();
    try {
      if (Date.now() < listeningUntil) await db.wakeWorkers();
      else await callProcessJobs();
    } catch {
      log("process-jobs wake-up failed; the cron tick will pick the job up");
    } finally {
      inFlight = false;
      if (again) {
        again = false;
        schedule();
      }
    }
  }

  return function nudge(): void {
    // A wake-up not sent yet goes out after this commit too.
    if (scheduled) return;
    // One already on its way may have left before this commit: queue another behind it.
    if (inFlight) {
      again = true;
      return;
    }
    // Timer-driven even at no delay: the caller's 202 goes out first.
    schedule();
  };
}
