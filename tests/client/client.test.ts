// The typed client (client/, SPEC §10) against the running stack, as an app uses it: the same
// scenarios (client/test/scenarios.mjs) under Deno, in this process, with the built package and
// Deno's supabase-js, and under Node, in a child process with Node's supabase-js; plus what a
// phone's network does to a watch (the socket dropped mid-job, sockets never allowed), which
// needs a proxy this process controls.
import assert from "node:assert/strict";
import { createClient } from "@supabase/supabase-js";
import { db, it, makeGlb, makePng, newUser, simControl } from "../_helpers/app.ts";
import { CLIENT_DIR, ensureClientBuilt } from "../_helpers/client_pkg.ts";
import { stack } from "../_helpers/stack.ts";
import { startTcpProxy } from "../_helpers/tcp_proxy.ts";
import { scenarios } from "../../client/test/scenarios.mjs";

type ClientModule = typeof import("../../client/src/index.ts");
type JobUpdate = import("../../client/src/index.ts").JobUpdate;

await ensureClientBuilt();
// The built package, as an app gets it (its types are those of the source it was built from).
const pkg: ClientModule = await import(new URL("../../client/dist/index.js", import.meta.url).href);

const png = makePng(64, 64, 7);
const glb = makeGlb(4096);
const host = {
  createClient,
  MakeIt3D: pkg.MakeIt3D,
  ApiError: pkg.ApiError,
  url: stack.url,
  publishableKey: stack.publishableKey,
  serviceKey: stack.serviceKey,
  png,
  glb,
};

for (const [name, fn] of Object.entries(scenarios)) {
  it(`client (deno): ${name}`, () => fn(host));
}

it("client (node): the same scenarios under Node with the built package", async () => {
  const dir = await Deno.makeTempDir({ prefix: "m3d-client-" });
  try {
    await Deno.writeFile(`${dir}/in.png`, png);
    await Deno.writeFile(`${dir}/in.glb`, glb);
    const out = await new Deno.Command("node", {
      args: ["test/node.mjs"],
      cwd: CLIENT_DIR,
      env: {
        STACK_URL: stack.url,
        STACK_PUBLISHABLE_KEY: stack.publishableKey,
        STACK_SERVICE_KEY: stack.serviceKey,
        CLIENT_TEST_PNG: `${dir}/in.png`,
        CLIENT_TEST_GLB: `${dir}/in.glb`,
      },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout);
    const err = new TextDecoder().decode(out.stderr);
    console.log(text.trimEnd());
    assert.equal(out.code, 0, `node failed:\n${text}\n${err}`);
    for (const name of Object.keys(scenarios)) {
      assert.ok(text.includes(`\nok - ${name}\n`), `node did not pass: ${name}`);
    }
    assert.match(text, new RegExp(`# node: ${Object.keys(scenarios).length} passed, 0 failed`));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** A user signed in through `url` (a proxy in front of the stack). */
async function viaProxy(url: string) {
  const u = await newUser("client-net");
  const supabase = createClient(url, stack.publishableKey, {
    auth: { persistSession: false, autoRefreshToken: false },
  });
  await supabase.auth.setSession({
    access_token: u.token,
    refresh_token: (await u.client.auth.getSession()).data.session!.refresh_token,
  });
  return { u, supabase, m3d: new pkg.MakeIt3D({ supabase }) };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(pred: () => boolean, what: string, ms = 30_000) {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

it("client watch: the socket drops mid-job, the job ends meanwhile, the end arrives once after the rejoin", async () => {
  const proxy = startTcpProxy(stack.url);
  const { u, supabase } = await viaProxy(proxy.url);
  // Counts the client's calls in flight, so the plug is pulled only when none is.
  let inFlight = 0;
  const counted: typeof fetch = async (input, init) => {
    inFlight++;
    try {
      return await fetch(input, init);
    } finally {
      inFlight--;
    }
  };
  const m3d = new pkg.MakeIt3D({ supabase, fetch: counted });
  try {
    const acc = await m3d.textToModel({ task_id: "c-net", prompt: "a stuck kettle [sim:stuck]" });
    const updates: JobUpdate[] = [];
    // Polling an hour apart: only the read after the rejoin can bring the end.
    const stop = m3d.watch(acc.job_id, (j) => updates.push(j), { pollIntervalMs: 3_600_000 });
    const channel = () => supabase.getChannels()[0];
    await until(
      () => channel()?.state === "joined" && updates.length > 0 && inFlight === 0,
      "the join and its read",
    );
    await sleep(100);
    assert.equal(inFlight, 0);
    proxy.down();
    await until(() => channel()?.state !== "joined", "the channel to notice");
    // Cancelled straight at the stack while the watcher is cut off: its event is lost to it.
    const direct = new pkg.MakeIt3D({ supabase: u.client });
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
    const seqs = updates.map((j) => j.seq);
    assert.deepEqual(seqs, [...new Set(seqs)].sort((a, b) => a - b));
    assert.equal(channel(), undefined, "the watch left the channel when it ended");
  } finally {
    await supabase.removeAllChannels();
    await proxy.close();
  }
});

it("client watch: where sockets never get through, polling brings the job to its end", async () => {
  const proxy = startTcpProxy(stack.url, { blockWebSockets: true });
  const { supabase, m3d } = await viaProxy(proxy.url);
  try {
    const acc = await m3d.textToImage({ task_id: "c-poll", prompt: "a polled lamp" });
    const final = await m3d.waitFor(acc.job_id, { timeoutMs: 60_000, pollIntervalMs: 200 });
    assert.equal(final.status, "complete", JSON.stringify(final));
    assert.equal(final.asset_urls.length, 1);
    assert.ok(proxy.refused > 0, "the socket was refused");
    assert.equal(supabase.realtime.isConnected(), false);
  } finally {
    await supabase.removeAllChannels();
    await proxy.close();
  }
});

// The cancels above leave their `[sim:stuck]` tasks running at Tripo, as a cancel does at the real
// one (it has no cancel call), and each holds a slot of the account's concurrency: ten of them and
// every later Tripo job of the suite waits on 429s. Each must belong to a job the BFF cancelled;
// then they are ended at the simulator.
it("client: the tasks its cancels left running at Tripo are its cancelled jobs'; they are ended", async () => {
  const { tasks } = await simControl("tripo", "tasks") as {
    tasks: { task_id: string; status: string; prompt?: string }[];
  };
  const left = tasks.filter((t) =>
    t.prompt?.startsWith("a stuck kettle") && (t.status === "running" || t.status === "queued")
  );
  assert.ok(left.length > 0, "the cancel scenarios left their stuck tasks");
  const jobs = await db()<{ provider_task_id: string; state: string }[]>`
    select provider_task_id, state from public.jobs
    where provider_task_id = any (${left.map((t) => t.task_id)})`;
  assert.deepEqual(
    jobs.map((j) => j.state).sort(),
    left.map(() => "cancelled"),
    "every stuck task is a cancelled job's",
  );
  for (const t of left) {
    await simControl("tripo", `tasks/${t.task_id}`, { outcome: "cancelled", finish: true });
  }
});
