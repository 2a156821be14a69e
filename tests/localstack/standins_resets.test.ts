// The Storage and Auth stand-ins while their Postgres connections are terminated again and
// again. postgres.js 3.4.9 threw uncaught errors into the process when a connection was reset
// mid-transaction (and leaked rejections from work it did not await), and its pools could stay
// broken; the stand-ins make single statements only, on plain postgres.js 4 pools with
// `fetch_types` off (localstack/db/standin_pool.ts). This proves nothing escapes: the
// test starts a stack of its own, whose stand-ins therefore run in THIS process, and counts
// every uncaught error and unhandled rejection here. A request that meets a terminated
// connection may fail with a 5xx (counted); every request must end, and the stand-ins must
// serve normally afterwards.
import assert from "node:assert/strict";
import postgres from "postgres";
import { createClient, type SupabaseClient } from "@supabase/supabase-js";
import { type Stack, startStack } from "../../localstack/stack.ts";
import { createDatabase, dropDatabase, PROJECT_ROOT } from "../../localstack/db/prepare.ts";

const ADMIN_URL = Deno.env.get("STACK_ADMIN_DB_URL") ??
  "postgres://postgres@127.0.0.1:5432/postgres";
const STANDINS = ["standin-storage", "standin-auth"];
const WORKERS = 4;
const KILL_ROUNDS = 100; // every ~50 ms: about five seconds of resets
const REQUEST_MS = 20_000; // above the stand-in pools' connect_timeout: a longer wait is a hang
const BUCKET = "input-assets";
const PNG = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 9, 8, 7, 6]);

interface Counts {
  kills: number;
  ok: number;
  "5xx": number;
  timeouts: number;
  other: number;
  uncaught: number;
  unhandled: number;
}

/** Counts what escapes in this process (where the stack's stand-ins run). */
function watchEscapes(counts: Counts, samples: string[]) {
  const onError = (e: ErrorEvent) => {
    counts.uncaught++;
    if (samples.length < 10) samples.push(`uncaught: ${(e.error as Error)?.stack ?? e.message}`);
    e.preventDefault();
  };
  const onRejection = (e: PromiseRejectionEvent) => {
    counts.unhandled++;
    const r = e.reason as { code?: string; stack?: string } | undefined;
    if (samples.length < 10) samples.push(`unhandled: ${r?.code ?? ""} ${r?.stack ?? r}`);
    e.preventDefault();
  };
  globalThis.addEventListener("error", onError);
  globalThis.addEventListener("unhandledrejection", onRejection);
  return () => {
    globalThis.removeEventListener("error", onError);
    globalThis.removeEventListener("unhandledrejection", onRejection);
  };
}

const noSession = { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false };

function client(stack: Stack, key: string, counts: Counts): SupabaseClient {
  // Every request is bounded; one that runs out is counted as a hang, not waited for.
  const bounded: typeof fetch = async (input, init) => {
    const signal = init?.signal
      ? AbortSignal.any([init.signal, AbortSignal.timeout(REQUEST_MS)])
      : AbortSignal.timeout(REQUEST_MS);
    try {
      return await fetch(input, { ...init, signal });
    } catch (err) {
      if ((err as Error)?.name === "TimeoutError") counts.timeouts++;
      throw err;
    }
  };
  return createClient(stack.url, key, { auth: noSession, global: { fetch: bounded } });
}

interface Worker {
  id: string;
  email: string;
  password: string;
  client: SupabaseClient;
  /** Paths whose upload was answered 200 and not removed since. */
  stored: string[];
}

type Outcome = { error: unknown };

function statusOf(error: unknown): number {
  const e = error as { status?: number; statusCode?: string };
  return Number(e?.status ?? 0) >= 500 ? Number(e.status) : Number(e?.statusCode ?? 0);
}

/** One request of the mix; the result is ok, 5xx or something that must not happen. */
async function step(stack: Stack, w: Worker, i: number, counts: Counts): Promise<string | null> {
  const storage = w.client.storage.from(BUCKET);
  let r: Outcome;
  let path: string | undefined;
  switch (i % 6) {
    case 0:
      path = `${w.id}/r-${i % 5}.png`;
      r = await storage.upload(path, PNG, { contentType: "image/png", upsert: true });
      if (!r.error && !w.stored.includes(path)) w.stored.push(path);
      break;
    case 1:
      path = w.stored[i % Math.max(1, w.stored.length)];
      if (!path) return null;
      r = await storage.download(path);
      break;
    case 2:
      r = await storage.list(w.id);
      break;
    case 3:
      r = await client(stack, stack.keys.publishableKey, counts).auth.signUp({
        email: `resets-${crypto.randomUUID().slice(0, 12)}@example.test`,
        password: "resets-password",
      });
      break;
    case 4:
      r = await w.client.auth.signInWithPassword({ email: w.email, password: w.password });
      break;
    default:
      path = w.stored.shift();
      if (!path) return null;
      // Whatever the answer, the path's state is now unknown: it is not read again.
      r = await storage.remove([path]);
  }
  if (!r.error) {
    counts.ok++;
    return null;
  }
  if (statusOf(r.error) >= 500) {
    counts["5xx"]++;
    return null;
  }
  counts.other++;
  const e = r.error as { name?: string; status?: number; message?: string };
  return `step ${i % 6} ${path ?? ""}: ${e.name} ${e.status} ${e.message}`;
}

Deno.test({
  name: "stand-ins under Postgres connection resets: nothing escapes, every request ends",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const template = Deno.env.get("STACK_TEMPLATE_DB");
    if (!template) throw new Error("STACK_TEMPLATE_DB is not set: run through scripts/test.ts");
    const name = `makeit3d_t${Date.now()}_resets`;
    const dbUrl = await createDatabase(ADMIN_URL, name, template);
    const dataDir = `${PROJECT_ROOT}.runs/storage-${name}`;
    const counts: Counts = {
      kills: 0,
      ok: 0,
      "5xx": 0,
      timeouts: 0,
      other: 0,
      uncaught: 0,
      unhandled: 0,
    };
    const samples: string[] = [];
    const others: string[] = [];
    const unwatch = watchEscapes(counts, samples);
    const admin = postgres(dbUrl, {
      max: 1,
      onnotice: () => {},
      connection: { application_name: "resets-test" },
    });
    let stack: Stack | undefined;
    try {
      stack = await startStack({
        port: 0,
        dbUrl,
        skipMigrations: true,
        dataDir,
        cronIntervalMs: 0,
        logFunctions: false,
        log: () => {},
      });
      const s = stack;
      const service = client(s, s.keys.secretKey, counts);
      const workers: Worker[] = [];
      for (let k = 0; k < WORKERS; k++) {
        const email = `resets-w${k}-${crypto.randomUUID().slice(0, 8)}@example.test`;
        const password = `pw-${crypto.randomUUID()}`;
        const created = await service.auth.admin.createUser({
          email,
          password,
          email_confirm: true,
        });
        assert.equal(created.error, null);
        const c = client(s, s.keys.publishableKey, counts);
        const signedIn = await c.auth.signInWithPassword({ email, password });
        assert.equal(signedIn.error, null);
        workers.push({ id: created.data.user!.id, email, password, client: c, stored: [] });
      }

      let resetting = true;
      let peak = 0; // most stand-in connections seen at once (fresh pools replace reset ones)
      const killer = (async () => {
        for (let round = 0; round < KILL_ROUNDS; round++) {
          const rows = await admin`
            select pg_terminate_backend(pid) from pg_stat_activity
            where datname = ${name} and application_name in ${admin(STANDINS)}`;
          counts.kills += rows.length;
          peak = Math.max(peak, rows.length);
          await new Promise((r) => setTimeout(r, 50));
        }
        resetting = false;
      })();
      await Promise.all(workers.map(async (w) => {
        for (let i = 0; resetting; i++) {
          const other = await step(s, w, i, counts);
          if (other) others.push(other);
        }
      }));
      await killer;
      const during = { ...counts };

      console.log(`STANDIN_RESETS during ${JSON.stringify(during)}, peak connections ${peak}`);

      // Afterwards every stand-in request succeeds again, also with every pool slot in use
      // (a slot postgres.js left broken would show here): three chains per worker at once.
      await new Promise((r) => setTimeout(r, 500));
      const failedAfter: string[] = [];
      let okAfter = 0;
      const expectOk = (what: string, r: Outcome) => {
        if (r.error) failedAfter.push(`${what}: ${(r.error as Error).message}`);
        else okAfter++;
        return !r.error;
      };
      // One chain: each step only if the previous one succeeded (no knock-on failures).
      const chain = async (w: Worker, k: number) => {
        const storage = w.client.storage.from(BUCKET);
        const path = `${w.id}/after-${k}.png`;
        const file = `after-${k}.png`;
        const up = await storage.upload(path, PNG, { contentType: "image/png", upsert: true });
        if (!expectOk("upload", up)) return;
        const rows = await admin`select 1 from storage.objects where name = ${path}`;
        if (rows.length !== 1) return void failedAfter.push(`upload of ${path}: no row`);
        const down = await storage.download(path);
        if (!expectOk("download", down)) return;
        assert.deepEqual(new Uint8Array(await down.data!.arrayBuffer()), PNG);
        const listed = await storage.list(w.id);
        if (!expectOk("list", listed)) return;
        if (!listed.data!.some((o) => o.name === file)) {
          return void failedAfter.push(`list of ${w.id} without ${file}`);
        }
        const signIn = await client(s, s.keys.publishableKey, counts).auth.signInWithPassword({
          email: w.email,
          password: w.password,
        });
        if (!expectOk("sign-in", signIn)) return;
        const removed = await storage.remove([path]);
        if (expectOk("remove", removed) && removed.data!.length !== 1) {
          failedAfter.push(`remove of ${path} removed ${removed.data!.length}`);
        }
      };
      await Promise.all(workers.flatMap((w) => [0, 1, 2].map((k) => chain(w, k))));
      expectOk(
        "sign-up",
        await client(s, s.keys.publishableKey, counts).auth.signUp({
          email: `resets-after-${crypto.randomUUID().slice(0, 8)}@example.test`,
          password: "resets-password",
        }),
      );
      console.log(
        `STANDIN_RESETS after: ${okAfter} ok, ` +
          `${failedAfter.length} failed; total uncaught ${counts.uncaught}, ` +
          `unhandled ${counts.unhandled}, timeouts ${counts.timeouts}`,
      );
      for (const line of [...samples, ...others.slice(0, 10), ...failedAfter]) console.log(line);
      assert.deepEqual(failedAfter, [], "requests that failed after the resets had stopped");
      assert.ok(during.kills > 0, "the test terminated no stand-in connection");
      assert.ok(during.ok > 0, "no request succeeded while connections were reset");
      assert.equal(counts.uncaught, 0, "uncaught errors in the stand-ins' process");
      assert.equal(counts.unhandled, 0, "unhandled rejections in the stand-ins' process");
      assert.equal(counts.timeouts, 0, "requests that did not end in time");
      assert.equal(counts.other, 0, "answers other than success or a 5xx");
    } finally {
      unwatch();
      await stack?.stop().catch(() => {});
      await admin.end({ timeout: 2 }).catch(() => {});
      await dropDatabase(ADMIN_URL, name).catch(() => {});
      await Deno.remove(dataDir, { recursive: true }).catch(() => {});
    }
  },
});
