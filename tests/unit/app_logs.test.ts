// The shared app's per-request log line: the platform's invocation log already records every
// request, so ours is written for refusals (info) and failures (warn), and for the rest only at
// LOG_LEVEL=debug.
import assert from "node:assert/strict";
import { createApp } from "../../supabase/functions/_shared/app.ts";
import { loadConfig } from "../../supabase/functions/_shared/config.ts";

const config = loadConfig({
  SUPABASE_URL: "https://ref.supabase.co",
  SUPABASE_PUBLISHABLE_KEYS: '{"default":"sb_publishable_unit"}',
  SUPABASE_SECRET_KEYS: '{"default":"sb_secret_unit"}',
  SUPABASE_DB_URL: "postgres://unused",
}, { userTokens: false });

/** The JSON lines the app writes while `fn` runs, each with the console method it used. */
async function captured(
  fn: () => Promise<void>,
): Promise<{ via: string; line: Record<string, unknown> }[]> {
  const out: { via: string; line: Record<string, unknown> }[] = [];
  const saved = { log: console.log, error: console.error };
  console.log = (s: string) => out.push({ via: "log", line: JSON.parse(s) });
  console.error = (s: string) => out.push({ via: "error", line: JSON.parse(s) });
  try {
    await fn();
  } finally {
    console.log = saved.log;
    console.error = saved.error;
  }
  return out;
}

function appAt(level: "debug" | "info") {
  const { app } = createApp("fn", { ...config, LOG_LEVEL: level });
  app.get("/ok", (c) => c.json({ ok: true }));
  app.get("/refused", (c) => c.json({ error: { code: "invalid_request" } }, 400));
  app.get("/boom", () => {
    throw new Error("db password=hunter2 leaked?");
  });
  return app;
}

Deno.test("a served request writes no line of its own at info; at debug it writes one", async () => {
  const info = await captured(async () => {
    const res = await appAt("info").request("/fn/ok");
    assert.equal(res.status, 200);
  });
  assert.deepEqual(info, []);
  const debug = await captured(async () => {
    await appAt("debug").request("/fn/ok");
  });
  assert.equal(debug.length, 1);
  assert.equal(debug[0].line.msg, "request");
  assert.equal(debug[0].line.status, 200);
  assert.equal(debug[0].line.level, "debug");
});

Deno.test("a failed request is logged at info: the error, then the request at warn", async () => {
  const lines = await captured(async () => {
    const res = await appAt("info").request("/fn/boom");
    assert.equal(res.status, 500);
    assert.doesNotMatch(await res.text(), /hunter2/);
  });
  assert.deepEqual(lines.map((l) => [l.via, l.line.level, l.line.msg]), [
    ["error", "error", "unhandled error"],
    ["error", "warn", "request"],
  ]);
  assert.equal(lines[1].line.status, 500);
});

Deno.test("a refused request is logged at info with its request id", async () => {
  const lines = await captured(async () => {
    const res = await appAt("info").request("/fn/refused", {
      headers: { "x-request-id": "refused-0001-abcd" },
    });
    assert.equal(res.status, 400);
  });
  assert.equal(lines.length, 1);
  assert.deepEqual(
    [lines[0].via, lines[0].line.level, lines[0].line.msg, lines[0].line.status],
    ["log", "info", "request", 400],
  );
  assert.equal(lines[0].line.request_id, "refused-0001-abcd");
});
