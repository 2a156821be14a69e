// The client's scenarios under Node, against the stack named by STACK_URL & co. (set by
// tests/client/client.test.ts, which spawns this). Uses the built package (../dist) and Node's
// own supabase-js; Node before 22 has no global WebSocket, so realtime-js gets `ws`.
import { readFileSync } from "node:fs";
import { createClient } from "@supabase/supabase-js";
import { ApiError, MakeIt3D } from "../dist/index.js";
import { startTcpProxy } from "./node_proxy.mjs";
import { runAll } from "./scenarios.mjs";

function need(name) {
  const v = process.env[name];
  if (!v) {
    console.error(`${name} is not set: run through tests/client/client.test.ts`);
    process.exit(2);
  }
  return v;
}

const realtime = typeof globalThis.WebSocket === "function"
  ? undefined
  : { transport: (await import("ws")).WebSocket };
const host = {
  createClient,
  MakeIt3D,
  ApiError,
  url: need("STACK_URL"),
  publishableKey: need("STACK_PUBLISHABLE_KEY"),
  serviceKey: need("STACK_SERVICE_KEY"),
  realtime,
  startProxy: startTcpProxy,
  png: new Uint8Array(readFileSync(need("CLIENT_TEST_PNG"))),
  glb: new Uint8Array(readFileSync(need("CLIENT_TEST_GLB"))),
};

console.log(`# node ${process.version}, WebSocket: ${realtime ? "ws" : "global"}`);
let passed = 0;
let failed = 0;
await runAll(host, (name, err) => {
  if (err) {
    failed++;
    console.log(`not ok - ${name}\n  ${String(err?.stack ?? err).replaceAll("\n", "\n  ")}`);
  } else {
    passed++;
    console.log(`ok - ${name}`);
  }
});
console.log(`# node: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
