/** Transport helpers shared by the provider clients: timeouts, backoff, Retry-After. */

export const MAX_RETRY_AFTER_SECONDS = 30;

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal!.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * Capped exponential backoff with jitter, as the official Tripo SDKs:
 * `min(base·2^(attempt−1), cap) + rand(0..250)` ms; `attempt` starts at 1.
 */
export function backoffMs(attempt: number, baseMs = 1000, capMs = 8000): number {
  return Math.min(baseMs * 2 ** Math.max(0, attempt - 1), capMs) + Math.floor(Math.random() * 250);
}

/** Numeric (seconds) or HTTP-date Retry-After; undefined when absent or unparsable. */
export function parseRetryAfter(value: string | null | undefined): number | undefined {
  if (!value) return undefined;
  const v = value.trim();
  if (/^\d+(\.\d+)?$/.test(v)) return Number(v);
  const at = Date.parse(v);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, Math.ceil((at - Date.now()) / 1000));
}

export type FetchFn = typeof fetch;

/** Error thrown by `fetchWithTimeout` when its own timer fired. */
export class TimeoutError extends Error {
  constructor(readonly timeoutMs: number) {
    super(`request timed out after ${timeoutMs} ms`);
    this.name = "TimeoutError";
  }
}

/**
 * fetch with a hard deadline covering the headers (the caller reads the body under the same
 * signal via the returned `signal`). Never leaves the timer running.
 */
export async function fetchWithTimeout(
  fetchFn: FetchFn,
  url: string,
  init: RequestInit,
  timeoutMs: number,
): Promise<{ res: Response; signal: AbortSignal; done: () => void }> {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(new TimeoutError(timeoutMs)), timeoutMs);
  const done = () => clearTimeout(timer);
  try {
    const res = await fetchFn(url, { ...init, signal: ctl.signal });
    return { res, signal: ctl.signal, done };
  } catch (e) {
    done();
    if (ctl.signal.aborted && ctl.signal.reason instanceof TimeoutError) throw ctl.signal.reason;
    throw e;
  }
}

/**
 * True when a fetch failure certainly happened before the request was sent (DNS, connection
 * refused): only then is a paid POST safe to replay.
 */
export function isConnectError(e: unknown): boolean {
  const texts: string[] = [];
  let cur: unknown = e;
  for (let i = 0; i < 4 && cur; i++) {
    if (cur instanceof Error) {
      texts.push(cur.message, (cur as { code?: string }).code ?? "");
      cur = cur.cause;
    } else {
      texts.push(String(cur));
      break;
    }
  }
  const all = texts.join(" ");
  return /Connection refused|ECONNREFUSED|tcp connect error|\(Connect\)|dns error|ENOTFOUND|EAI_AGAIN|failed to lookup address|ConnectionRefused/i
    .test(all);
}
