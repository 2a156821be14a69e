// The typed client (client/, SPEC §10) against the running stack, as an app uses it: the same
// scenarios (client/test/scenarios.mjs) under Deno, in this process, with the built package and
// Deno's supabase-js, and under Node, in a child process with Node's supabase-js and `ws` — each
// with a TCP proxy of its own runtime for what a phone's network does to a watch.
import assert from "node:assert/strict";
import { createClient } from "@supabase/supabase-js";
import { db, endStuckTripoTasks, it, makeGlb, makePng } from "../_helpers/app.ts";
import { CLIENT_DIR, ensureClientBuilt } from "../_helpers/client_pkg.ts";
import { stack } from "../_helpers/stack.ts";
import { startTcpProxy } from "../_helpers/tcp_proxy.ts";
import { scenarios } from "../../client/test/scenarios.mjs";

type ClientModule = typeof import("../../client/src/index.ts");

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
  startProxy: (target: string, opts?: { blockWebSockets?: boolean }) =>
    Promise.resolve(startTcpProxy(target, opts)),
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

// The cancels above leave their `[sim:stuck]` tasks running at Tripo, as a cancel does at the real
// one (it has no cancel call); each holds a slot of the account's concurrency cap, so they are
// ended first, whatever else fails here. Then every stuck job the scenarios made must have ended
// cancelled. (How many tasks there were is not fixed: a cancel may overtake the submission.)
it("client: the stuck jobs its scenarios made all ended cancelled; their Tripo tasks are ended", async () => {
  await endStuckTripoTasks();
  assert.equal(await endStuckTripoTasks(), 0, "none holds a slot any more");
  const jobs = await db()<{ state: string }[]>`
    select state from public.jobs
    where kind = 'text_to_model' and request -> 'params' ->> 'prompt' like 'a stuck kettle%'`;
  // The cancel and the dropped-socket scenarios, under Deno and under Node.
  assert.deepEqual(jobs.map((j) => j.state), ["cancelled", "cancelled", "cancelled", "cancelled"]);
});
