// One way to call a function: the user's current access token (supabase-js refreshes it), the
// project's key, JSON in and out, non-2xx as ApiError. A network failure is retried a few times
// with the same Idempotency-Key, so a request that reached the BFF before the connection broke
// is answered with its first job instead of starting a second paid one.
import { ApiError, networkError } from "./errors.ts";

export type FetchLike = (input: string, init: RequestInit) => Promise<Response>;

export interface RequestOptions {
  method: "GET" | "POST" | "PUT" | "DELETE";
  body?: unknown;
  query?: Record<string, string | number | undefined>;
  idempotencyKey?: string;
  signal?: AbortSignal;
}

export interface Transport {
  call<T>(path: string, opts: RequestOptions): Promise<T>;
}

/** Pauses between attempts after a network failure (3 attempts in all). */
const RETRY_DELAYS_MS = [250, 1000];

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal?.reason);
    };
    const t = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

export function createTransport(opts: {
  functionsUrl: string;
  apiKey: string | undefined;
  accessToken: () => Promise<string | undefined>;
  fetch: FetchLike;
}): Transport {
  const base = opts.functionsUrl.replace(/\/+$/, "");
  return {
    async call<T>(path: string, req: RequestOptions): Promise<T> {
      // No URL object: React Native's is incomplete without a polyfill.
      const query = Object.entries(req.query ?? {})
        .filter(([, v]) => v !== undefined)
        .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`)
        .join("&");
      const url = `${base}/${path}${query ? `?${query}` : ""}`;
      const headers: Record<string, string> = { accept: "application/json" };
      if (opts.apiKey) headers.apikey = opts.apiKey;
      if (req.idempotencyKey) headers["idempotency-key"] = req.idempotencyKey;
      if (req.body !== undefined) headers["content-type"] = "application/json";
      const body = req.body === undefined ? undefined : JSON.stringify(req.body);
      for (let attempt = 0;; attempt++) {
        // Read per attempt: a retry after a pause may need the refreshed token.
        const token = await opts.accessToken();
        if (token) headers.authorization = `Bearer ${token}`;
        let res: Response;
        let text: string;
        try {
          res = await opts.fetch(url, {
            method: req.method,
            headers,
            body,
            signal: req.signal,
          });
          if (!res.ok) throw await ApiError.fromResponse(res);
          // The body too: a connection that breaks here may already have started the job.
          text = await res.text();
        } catch (e) {
          if (e instanceof ApiError) throw e;
          if (req.signal?.aborted) throw req.signal.reason;
          if (attempt >= RETRY_DELAYS_MS.length) throw networkError(e);
          await sleep(RETRY_DELAYS_MS[attempt], req.signal);
          continue;
        }
        try {
          return (text ? JSON.parse(text) : null) as T;
        } catch {
          throw new ApiError({
            code: "bad_response",
            status: res.status,
            message: "The BFF answered something that is not JSON.",
          });
        }
      }
    },
  };
}
