// Following one job to its end: live events on the user's private channel, task-status read
// after every (re)subscribe (subscribe-then-fetch: nothing between the two is missed), polling
// while the channel is down, and `seq` to drop anything not newer than what was delivered. The
// terminal state is delivered exactly once, as a task-status body (with fresh signed URLs).
import { ApiError } from "./errors.ts";
import type { HubListener } from "./hub.ts";
import type { JobView, Service, TaskStatus } from "./types.ts";

export interface WatchOptions {
  /** Checked against the job's provider by task-status (400 when it differs). */
  service?: Service;
  /** Stops the watch when aborted (no further calls of onUpdate). */
  signal?: AbortSignal;
  /** How often task-status is read while the live channel is down (default 2000 ms). */
  pollIntervalMs?: number;
  /** A failure that ends the watch (unknown job, not signed in) or one read that failed. */
  onError?: (error: ApiError, fatal: boolean) => void;
}

export type JobUpdate = JobView | TaskStatus;

export interface WatchDeps {
  /** task-status of the job. */
  fetchStatus(jobId: string, service: Service | undefined): Promise<TaskStatus>;
  /** Joins the user's channel; resolves to the function that leaves it. */
  listen(listener: HubListener): Promise<() => void>;
}

const TERMINAL = new Set(["complete", "failed"]);
export const isTerminal = (j: { status: string }) => TERMINAL.has(j.status);

/** Client errors that no retry will fix: the watch ends with them. */
const fatal = (e: ApiError) =>
  e.status === 400 || e.status === 401 || e.status === 403 || e.status === 404;

function asApiError(e: unknown): ApiError {
  if (e instanceof ApiError) return e;
  return new ApiError({
    code: "watch_failed",
    status: 0,
    message: e instanceof Error ? e.message : String(e),
  });
}

export function watchJob(
  deps: WatchDeps,
  jobId: string,
  onUpdate: (job: JobUpdate) => void,
  opts: WatchOptions = {},
): () => void {
  const interval = Math.max(50, opts.pollIntervalMs ?? 2000);
  const id = jobId.toLowerCase(); // events carry the UUID in lower case
  let lastSeq = -1;
  let stopped = false;
  /** Set once a terminal event arrived: only its task-status read is awaited now. */
  let ending = false;
  let live = false;
  let pollTimer: ReturnType<typeof setTimeout> | undefined;
  let leave: (() => void) | undefined;
  let reading = false;
  let readAgain = false;

  const stop = () => {
    if (stopped) return;
    stopped = true;
    if (pollTimer !== undefined) clearTimeout(pollTimer);
    opts.signal?.removeEventListener("abort", stop);
    leave?.();
    leave = undefined;
  };

  const deliver = (job: JobUpdate) => {
    if (stopped) return;
    if (isTerminal(job)) stop(); // before the callback: exactly once, even if it throws
    else lastSeq = job.seq;
    try {
      onUpdate(job);
    } catch (e) {
      // The app's callback failing must not break the watch (nor hide its error).
      setTimeout(() => {
        throw e;
      }, 0);
    }
  };

  const fail = (e: unknown) => {
    const err = asApiError(e);
    const isFatal = fatal(err);
    if (isFatal) stop();
    opts.onError?.(err, isFatal);
  };

  const schedulePoll = () => {
    if (stopped || pollTimer !== undefined) return;
    pollTimer = setTimeout(() => {
      pollTimer = undefined;
      // While live, only a pending terminal read keeps polling; events do the rest.
      if (!live || ending) void read();
    }, interval);
  };

  /** One task-status read (never two at once; a request during one runs right after it). */
  const read = async (): Promise<void> => {
    if (stopped) return;
    if (reading) {
      readAgain = true;
      return;
    }
    reading = true;
    try {
      const st = await deps.fetchStatus(jobId, opts.service);
      if (!stopped && (isTerminal(st) || (!ending && st.seq > lastSeq))) deliver(st);
    } catch (e) {
      fail(e);
    } finally {
      reading = false;
    }
    if (stopped) return;
    if (readAgain) {
      readAgain = false;
      return read();
    }
    if (!live || ending) schedulePoll();
  };

  const onEvent = (payload: unknown) => {
    if (stopped || ending || typeof payload !== "object" || payload === null) return;
    const job = payload as JobView;
    if (job.task_id !== id || typeof job.seq !== "number" || job.seq <= lastSeq) return;
    if (isTerminal(job)) {
      // The event carries no signed URLs: the end is delivered from task-status.
      ending = true;
      void read();
      return;
    }
    deliver(job);
  };

  const onStatus = (status: string) => {
    if (stopped) return;
    if (status === "SUBSCRIBED") {
      live = true;
      // After every (re)join: read the state, which covers whatever happened while down.
      void read();
    } else {
      live = false;
      schedulePoll();
    }
  };

  if (opts.signal?.aborted) {
    stopped = true;
    return stop;
  }
  opts.signal?.addEventListener("abort", stop, { once: true });
  // A first read at once (the app sees the state without waiting for the join), then the channel.
  void read();
  deps.listen({ onEvent, onStatus }).then((l) => {
    if (stopped) l();
    else leave = l;
  }, (e) => {
    fail(e);
    schedulePoll();
  });
  return stop;
}
