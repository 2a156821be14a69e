// The Edge runtime's background-task rules (SPEC §5): work that outlives a response is
// registered with `EdgeRuntime.waitUntil`, or it may never run (the isolate can be retired as
// soon as its response is sent); a `beforeunload` event comes before any shutdown. Outside the
// Edge runtime (unit tests) the work simply runs.
declare const EdgeRuntime: { waitUntil(p: Promise<unknown>): void } | undefined;

/** Keeps the isolate alive until `p` settles. Rejections are the caller's to log. */
export function waitUntil<T>(p: Promise<T>): Promise<T> {
  p.catch(() => {});
  if (typeof EdgeRuntime !== "undefined") EdgeRuntime.waitUntil(p);
  return p;
}

/** Runs `fn` when the isolate is about to shut down, inside the shutdown's grace period. */
export function onShutdown(fn: () => Promise<unknown>): void {
  globalThis.addEventListener("beforeunload", () => void waitUntil(fn()));
}
