// Wakes process-jobs right after an enqueue so a new job starts at once instead of on the next
// cron tick (cron stays the safety net). The wake-up is an HTTP call to process-jobs with the
// project's secret key (or PROCESS_JOBS_SECRET): it needs no LISTEN, which the transaction
// pooler cannot offer, and no state in this isolate, which may be retired right after its
// response. Each call is registered with EdgeRuntime.waitUntil, so it is sent even then.
// Coalesced per isolate: at most one wake-up in flight and one queued behind it, at most one
// started per NUDGE_MIN_GAP_MS, so a burst of POSTs costs a few calls, not hundreds; every
// enqueue is still followed by a wake-up sent after its commit. A lone POST's goes out at once.
// `nudge()` also returns when that wake-up has been answered, for a caller that must not end
// before it is sent (an isolate shutting down).
import type { Config } from "../config.ts";
import { waitUntil } from "../runtime.ts";

// Under load, wake-ups are spaced NUDGE_MIN_GAP_MS apart (default 25; a job waits at most that
// much longer). Each is a request through the gateway and the process-jobs isolate, competing for
// the cores with the next POSTs: 5 ms cost about one wake-up per POST at c1; 25 ms caps them at
// 40 a second per isolate.

export function serviceHeaders(config: Config): Record<string, string> {
  if (config.secretKey) return { apikey: config.secretKey };
  if (config.PROCESS_JOBS_SECRET) return { "x-process-jobs-secret": config.PROCESS_JOBS_SECRET };
  return {};
}

export function createNudger(
  config: Config,
  log: (msg: string) => void,
  send: (url: string, init: RequestInit) => Promise<Response> = fetch,
) {
  const url = `${config.SUPABASE_URL.replace(/\/$/, "")}/functions/v1/process-jobs`;
  const headers = { ...serviceHeaders(config), "content-type": "application/json" };
  const minGapMs = config.NUDGE_MIN_GAP_MS;
  let inFlight = false;
  let again = false;
  let scheduled = false;
  let lastSent = 0;
  // The wake-up not started yet, which every nudge made now is covered by: settled when it ends.
  let covering: { done: Promise<void>; settle: () => void } | null = null;

  async function call(): Promise<void> {
    inFlight = true;
    lastSent = Date.now();
    // A timer cleared when the call ends, not AbortSignal.timeout: that one fires 5 s later
    // whatever happened and builds a DOMException each time (a measurable share of a busy
    // isolate's CPU, one per wake-up).
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), 5_000);
    try {
      const res = await send(url, { method: "POST", headers, body: "{}", signal: abort.signal });
      await res.body?.cancel();
      if (!res.ok) log(`process-jobs wake-up answered ${res.status}`);
    } catch {
      log("process-jobs wake-up failed; the cron tick will pick the job up");
    } finally {
      clearTimeout(timer);
      inFlight = false;
      if (again) {
        again = false;
        schedule();
      }
    }
  }

  function schedule(): void {
    scheduled = true;
    const wait = Math.max(0, lastSent + minGapMs - Date.now());
    waitUntil(
      new Promise<void>((resolve) => {
        setTimeout(() => {
          scheduled = false;
          const mine = covering;
          covering = null;
          call().finally(() => {
            mine?.settle();
            resolve();
          });
        }, wait);
      }),
    );
  }

  return function nudge(): Promise<void> {
    if (!covering) {
      let settle = () => {};
      const done = new Promise<void>((r) => (settle = r));
      covering = { done, settle };
    }
    const done = covering.done;
    // A wake-up not sent yet goes out after this commit too.
    if (scheduled) return done;
    // One already on its way may have left before this commit: queue another behind it.
    if (inFlight) {
      again = true;
      return done;
    }
    // Timer-driven even at no delay: the caller's 202 goes out first.
    schedule();
    return done;
  };
}
