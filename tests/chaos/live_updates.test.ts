// Live updates under load and faults, each on a stack of its own: queue positions past the
// Tripo cap fall to 0 as the jobs start; a client whose Realtime connection drops mid-job (the
// stand-in restarted) ends with the terminal state; and the Realtime stand-in killed mid-run
// changes no job's outcome (events are a view, the database is the truth).
import assert from "node:assert/strict";
import {
  chaosTest,
  checkFailureReasons,
  checkOutputs,
  generate,
  jobRows,
  newUser,
  sleep,
  startChaosStack,
  startSims,
  target,
  waitTerminal,
} from "./_harness.ts";
import { call } from "../_helpers/app.ts";
import { checkStream, subscribeJobs, TERMINAL } from "../_helpers/realtime.ts";

chaosTest(
  "queue position: past the Tripo cap jobs wait with a place > 0 that falls to 0",
  async () => {
    const sims = startSims({ tripo: { runMs: 1_200, queueMs: 100 } });
    const cs = await startChaosStack({
      label: "queuepos",
      sims,
      env: { TRIPO_MAX_CONCURRENCY: "2" },
    });
    try {
      const user = await newUser(cs, "qp");
      const feed = await subscribeJobs(user);
      const ids: string[] = [];
      for (let i = 0; i < 6; i++) {
        ids.push(
          await generate(cs, user, "text_to_model", { task_id: `qp-${i}`, prompt: `queued ${i}` }),
        );
      }
      for (const id of ids) {
        await feed.until(id, (e) => e.some((x) => TERMINAL.has(x.status)), `job ${id}`, 90_000);
      }
      const waited = ids.filter((id) => feed.of(id).some((e) => e.queue_position > 0));
      assert.ok(waited.length >= 3, `only ${waited.length} jobs ever had a place in the queue`);
      for (const id of waited) {
        const evs = feed.of(id);
        assert.equal(checkStream(evs), null);
        const places = evs.filter((e) => e.status === "pending").map((e) => e.queue_position);
        // The place only goes down, and the job runs with place 0.
        for (let i = 1; i < places.length; i++) {
          assert.ok(places[i] <= places[i - 1], `place went up: ${places.join(" → ")}`);
        }
        for (const e of evs.filter((x) => x.status !== "pending")) {
          assert.equal(
            e.queue_position,
            0,
          );
        }
      }
      // task-status says the same while a job waits: checked on a fresh wait.
      const more = [];
      for (let i = 0; i < 4; i++) {
        more.push(
          await generate(cs, user, "text_to_model", { task_id: `qm-${i}`, prompt: `more ${i}` }),
        );
      }
      const s = await call(`task-status/${more[3]}`, { token: user.token }, target(cs));
      assert.equal(s.status, 200);
      assert.ok(s.body.status !== "pending" || s.body.queue_position >= 1, JSON.stringify(s.body));
      await waitTerminal(cs, [...ids, ...more], 90_000);
      await feed.close();
      console.log(`QUEUE_POSITION waited=${waited.length} of ${ids.length}`);
    } finally {
      await cs.stop();
      await sims.close();
    }
  },
);

chaosTest(
  "realtime: the stand-in restarted mid-job; the client ends with the terminal state",
  async () => {
    const sims = startSims({ tripo: { runMs: 2_500 } });
    const cs = await startChaosStack({ label: "rtrestart", sims });
    try {
      const user = await newUser(cs, "rr");
      const feed = await subscribeJobs(user);
      const id = await generate(cs, user, "text_to_model", {
        task_id: "rr",
        prompt: "across a restart",
      });
      await feed.until(id, (e) => e.some((x) => x.status === "processing"), "the start");
      await cs.stack.realtime.restart();
      // The client reconnects and rejoins by itself; as the app would, it also reads task-status
      // once rejoined, so an end that fell into the gap is not missed.
      const end = Date.now() + 60_000;
      let final: string | undefined;
      while (Date.now() < end && !final) {
        const last = feed.of(id).at(-1);
        if (last && TERMINAL.has(last.status)) final = last.status;
        else if (feed.statuses.filter((s) => s === "SUBSCRIBED").length >= 2) {
          const s = await call(`task-status/${id}`, { token: user.token }, target(cs));
          if (TERMINAL.has(s.body.status)) final = s.body.status;
        }
        await sleep(100);
      }
      assert.equal(final, "complete");
      assert.ok(
        feed.statuses.filter((s) => s === "SUBSCRIBED").length >= 2,
        feed.statuses.join(", "),
      );
      await feed.close();
    } finally {
      await cs.stop();
      await sims.close();
    }
  },
);

chaosTest(
  "realtime: the stand-in killed again and again mid-run changes no job outcome",
  async () => {
    const sims = startSims({ tripo: { runMs: 600 } });
    const cs = await startChaosStack({ label: "rtkill", sims });
    try {
      const user = await newUser(cs, "rk");
      let stop = false;
      let restarts = 0;
      const killer = (async () => {
        while (!stop && restarts < 40) {
          await sleep(250);
          await cs.stack.realtime.restart();
          restarts++;
        }
      })();
      const ids: string[] = [];
      for (let i = 0; i < 12; i++) {
        ids.push(
          await generate(cs, user, "text_to_model", { task_id: `rk-${i}`, prompt: `kill ${i}` }),
        );
      }
      const rows = await waitTerminal(cs, ids, 90_000);
      stop = true;
      await killer;
      await checkFailureReasons(cs, rows);
      await checkOutputs(cs, rows);
      for (const r of rows) assert.equal(r.state, "succeeded", JSON.stringify(r));
      // The events were written all along: the database has every job's terminal message.
      const [m] = await cs.sql`
      select count(distinct payload ->> 'task_id')::int as n from realtime.messages
      where payload ->> 'status' = 'complete' and payload ->> 'task_id' = any(${ids})`;
      assert.equal(m.n, ids.length);
      assert.ok(restarts >= 3, `only ${restarts} restarts`);
      assert.equal((await jobRows(cs, ids)).length, ids.length);
      console.log(`REALTIME_KILL restarts=${restarts} jobs=${ids.length} all succeeded`);
    } finally {
      await cs.stop();
      await sims.close();
    }
  },
);
