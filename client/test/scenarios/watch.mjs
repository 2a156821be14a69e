// The client's scenarios (../scenarios.mjs) of a watch: the socket drops mid-job, sockets never
// get through, and a watch beside the app's own channel on the same topic.
import assert from "node:assert/strict";
import { signedIn, sleep, until } from "./_helpers.mjs";

// What a phone's network does to a watch, through a TCP proxy the host runtime provides
// (host.startProxy(target, { blockWebSockets? }) → { url, down(), up(), refused, sockets, close() }).
export const watch = {
  async "watch: the socket drops mid-job, the job ends meanwhile, the end arrives once after the rejoin"(
    host,
  ) {
    const proxy = await host.startProxy(host.url);
    // Counts the client's calls in flight, so the plug is pulled only when none is.
    let inFlight = 0;
    const counted = async (input, init) => {
      inFlight++;
      try {
        return await fetch(input, init);
      } finally {
        inFlight--;
      }
    };
    const u = await signedIn(host, "net", { fetch: counted }, proxy.url);
    try {
      const acc = await u.m3d.textToModel({
        task_id: "c-net",
        prompt: "a stuck kettle [sim:stuck]",
      });
      const updates = [];
      // Polling an hour apart: only the read after the rejoin can bring the end.
      const stop = u.m3d.watch(acc.job_id, (j) => updates.push(j), { pollIntervalMs: 3_600_000 });
      const channel = () => u.supabase.getChannels()[0];
      await until(
        () =>
          channel()?.state === "joined" && updates.some((j) => j.status === "processing") &&
          inFlight === 0,
        "the join and the job running",
      );
      await sleep(100);
      assert.equal(inFlight, 0);
      proxy.down();
      await until(() => channel()?.state !== "joined", "the channel to notice");
      // Cancelled straight at the stack while the watcher is cut off: its event is lost to it.
      const direct = new host.MakeIt3D({
        supabase: u.supabase,
        functionsUrl: `${host.url}/functions/v1`,
      });
      assert.equal((await direct.cancel(acc.job_id)).cancelled, true);
      await sleep(200);
      assert.ok(!updates.some((j) => j.status === "failed"), "nothing reached the watcher yet");
      assert.equal(proxy.sockets, 1);
      proxy.up();
      await until(() => updates.some((j) => j.status === "failed"), "the end after the rejoin");
      assert.equal(proxy.sockets, 2, "it came with the new socket");
      await sleep(300);
      stop();
      const ends = updates.filter((j) => j.status === "failed");
      assert.equal(ends.length, 1, "the end once");
      assert.equal(updates.at(-1), ends[0]);
      assert.equal(ends[0].error_code, "cancelled");
      assert.ok("asset_urls" in ends[0], "the end is a task-status body");
      const seqs = updates.map((j) => j.seq);
      assert.deepEqual(seqs, [...new Set(seqs)].sort((a, b) => a - b));
      assert.equal(channel(), undefined, "the watch left the channel when it ended");
    } finally {
      await u.close();
      await proxy.close();
    }
  },

  async "watch: where sockets never get through, polling brings the job to its end"(host) {
    const proxy = await host.startProxy(host.url, { blockWebSockets: true });
    const u = await signedIn(host, "poll", {}, proxy.url);
    try {
      const acc = await u.m3d.textToImage({ task_id: "c-poll", prompt: "a polled lamp" });
      const final = await u.m3d.waitFor(acc.job_id, { timeoutMs: 60_000, pollIntervalMs: 200 });
      assert.equal(final.status, "complete", JSON.stringify(final));
      assert.equal(final.asset_urls.length, 1);
      assert.ok(proxy.refused > 0, "the socket was refused");
      assert.equal(proxy.sockets, 0);
    } finally {
      await u.close();
      await proxy.close();
    }
  },
};

watch[
  "watch beside the app's own channel on the same topic: both hear the job, the app's stays"
] = async (host) => {
  const u = await signedIn(host, "share");
  try {
    await u.supabase.realtime.setAuth(
      (await u.supabase.auth.getSession()).data.session.access_token,
    );
    const appEvents = [];
    let joined = false;
    const own = u.supabase.channel(`user:${u.id}:jobs`, { config: { private: true } })
      .on("broadcast", { event: "job" }, (m) => appEvents.push(m.payload))
      .subscribe((st) => {
        if (st === "SUBSCRIBED") joined = true;
      });
    await until(() => joined, "the app's own join");
    const acc = await u.m3d.textToImage({ task_id: "c-share", prompt: "a shared lamp" });
    const updates = [];
    const final = await u.m3d.waitFor(acc.job_id, {
      timeoutMs: 60_000,
      pollIntervalMs: 500,
      onUpdate: (j) => updates.push(j),
    });
    assert.equal(final.status, "complete");
    assert.equal(updates.filter((j) => j.status === "complete").length, 1);
    await until(() => appEvents.some((e) => e.status === "complete"), "the app's own event");
    assert.equal(own.state, "joined", "the app's channel is left alone");
    assert.deepEqual(u.supabase.getChannels(), [own]);
  } finally {
    await u.close();
  }
};
