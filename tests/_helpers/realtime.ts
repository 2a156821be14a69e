// Acting as the app on Realtime: a user's supabase-js client subscribed to its private
// `user:<id>:jobs` topic, recording every `job` event and every status the channel reports.
import type { RealtimeChannel } from "@supabase/supabase-js";
import type { TestUser } from "./app.ts";

export interface JobEvent {
  task_id: string;
  client_task_id: string;
  status: "pending" | "processing" | "complete" | "failed";
  progress: number;
  queue_position: number;
  eta_seconds: number | null;
  outputs: { bucket: string; path: string }[];
  error: string | null;
  error_code: string | null;
  seq: number;
  updated_at: string;
  id?: string;
  [k: string]: unknown;
}

export interface JobFeed {
  channel: RealtimeChannel;
  events: JobEvent[];
  statuses: string[];
  /** This job's events, in arrival order. */
  of(jobId: string): JobEvent[];
  /** Waits (bounded) until `pred` holds for the events of `jobId`. */
  until(
    jobId: string,
    pred: (evs: JobEvent[]) => boolean,
    what: string,
    ms?: number,
  ): Promise<JobEvent[]>;
  close(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
export const TERMINAL = new Set(["complete", "failed"]);

/** Subscribes `user` to its job events; resolves once the channel is SUBSCRIBED. */
export async function subscribeJobs(user: TestUser, timeoutMs = 15_000): Promise<JobFeed> {
  user.client.realtime.setAuth(user.token);
  const events: JobEvent[] = [];
  const statuses: string[] = [];
  const channel = user.client.channel(`user:${user.id}:jobs`, { config: { private: true } })
    .on("broadcast", { event: "job" }, (msg) => events.push(msg.payload as JobEvent))
    .subscribe((status, err) => statuses.push(err ? `${status}: ${err.message}` : status));
  const end = Date.now() + timeoutMs;
  while (!statuses.includes("SUBSCRIBED")) {
    if (statuses.some((s) => s.startsWith("CHANNEL_ERROR")) || Date.now() > end) {
      await user.client.removeChannel(channel);
      throw new Error(`could not subscribe: ${statuses.join(", ") || "no answer"}`);
    }
    await sleep(20);
  }
  const of = (jobId: string) => events.filter((e) => e.task_id === jobId);
  return {
    channel,
    events,
    statuses,
    of,
    async until(jobId, pred, what, ms = 60_000) {
      const stop = Date.now() + ms;
      while (!pred(of(jobId))) {
        if (Date.now() > stop) {
          throw new Error(
            `timed out waiting for ${what}: ${
              JSON.stringify(of(jobId).map((e) => [e.seq, e.status]))
            }`,
          );
        }
        await sleep(25);
      }
      return of(jobId);
    },
    async close() {
      await user.client.removeChannel(channel);
    },
  };
}

/** What every job's event stream must look like: seq strictly up, one terminal event, last. */
export function checkStream(evs: JobEvent[]): string | null {
  for (let i = 1; i < evs.length; i++) {
    if (evs[i].seq <= evs[i - 1].seq) return `seq ${evs[i - 1].seq} then ${evs[i].seq}`;
  }
  const terminal = evs.filter((e) => TERMINAL.has(e.status));
  if (terminal.length !== 1) return `${terminal.length} terminal events`;
  if (!TERMINAL.has(evs.at(-1)!.status)) return "the last event is not the terminal one";
  const text = JSON.stringify(evs);
  if (/token=|\/object\/sign\//.test(text)) return "a signed URL in a payload";
  return null;
}
