// One Realtime channel per user and supabase-js client, shared by every watch: realtime-js keeps
// one channel per topic, so two watches that each joined and left `user:<uid>:jobs` on their own
// would tear down each other's subscription.
import type { RealtimeChannel, SupabaseClient } from "@supabase/supabase-js";

/** What a watch hears from the channel. */
export interface HubListener {
  /** A `job` event's payload (any job of the user). */
  onEvent(payload: unknown): void;
  /** The channel's state as realtime-js reports it (again on every rejoin). */
  onStatus(status: "SUBSCRIBED" | "CHANNEL_ERROR" | "TIMED_OUT" | "CLOSED"): void;
}

interface Hub {
  channel: RealtimeChannel;
  listeners: Set<HubListener>;
  subscribed: boolean;
  /** The app's own channel on the topic: listened to, never left, its rejoins unseen. */
  borrowed: boolean;
}

// Keyed by the supabase client, then by user id; nothing keeps a client alive.
const hubs = new WeakMap<SupabaseClient, Map<string, Hub>>();

export const jobsTopic = (userId: string) => `user:${userId}:jobs`;

/**
 * Adds `listener` to the user's job channel, joining it first when nobody listens yet.
 * Returns the function that removes the listener (and the channel with the last one).
 */
export async function listenToJobs(
  supabase: SupabaseClient,
  userId: string,
  token: string,
  listener: HubListener,
): Promise<() => void> {
  let byUser = hubs.get(supabase);
  if (!byUser) hubs.set(supabase, byUser = new Map());
  let hub = byUser.get(userId);
  // A channel someone removed (the app, on its copy of the same topic) is no use any more.
  if (hub && hub.channel.state === "closed") {
    byUser.delete(userId);
    hub = undefined;
  }
  if (!hub) {
    // Private channels authorize with the user's token; supabase-js keeps it current after
    // this (on every token refresh), and realtime-js rejoins with it after a reconnect.
    await supabase.realtime.setAuth(token);
    hub = byUser.get(userId); // another watch may have joined meanwhile
  }
  if (!hub) {
    const listeners = new Set<HubListener>();
    const topic = jobsTopic(userId);
    // realtime-js keeps one channel per topic: an app that joined it itself gets its own
    // channel back from supabase.channel(), so that one is borrowed, not subscribed or removed.
    const own = supabase.getChannels().find((c) => c.topic === `realtime:${topic}`);
    const created: Hub = {
      channel: own ?? supabase.channel(topic, { config: { private: true } }),
      listeners,
      subscribed: false,
      borrowed: own !== undefined,
    };
    created.channel.on("broadcast", { event: "job" }, (msg) => {
      for (const l of [...listeners]) l.onEvent(msg.payload);
    });
    if (!created.borrowed) {
      created.channel.subscribe((status) => {
        created.subscribed = status === "SUBSCRIBED";
        for (const l of [...listeners]) l.onStatus(status);
      });
    }
    byUser.set(userId, hub = created);
  }
  const joined = hub;
  joined.listeners.add(listener);
  // A late listener learns the channel is already up, so it fetches the state it missed. On a
  // borrowed channel its rejoins cannot be seen: the watch keeps polling besides the events.
  if (joined.subscribed) queueMicrotask(() => listener.onStatus("SUBSCRIBED"));
  else if (joined.borrowed) queueMicrotask(() => listener.onStatus("CHANNEL_ERROR"));
  return () => {
    if (!joined.listeners.delete(listener) || joined.listeners.size > 0) return;
    if (byUser.get(userId) === joined) byUser.delete(userId);
    if (!joined.borrowed) supabase.removeChannel(joined.channel).catch(() => {});
  };
}
