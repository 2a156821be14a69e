// A running stack as the sections use it: its URLs, the users' tokens for it (ES256, signed
// with that stack's key and kid, as Supabase Auth issues them now) and small helpers.
import { signToken } from "../localstack/keys.ts";
import type { Stack } from "../localstack/stack.ts";

/** One running stack as the sections use it: its URLs, the users' tokens for it, helpers. */
export interface StackHandle {
  name: string;
  stack: Stack;
  /** ES256 user tokens signed with this stack's key and `kid`, one per user. */
  tokens: string[];
  /** `n` more tokens for the same users, each a new session: none seen by a function before. */
  freshTokens(n: number): Promise<string[]>;
  authHeaders(i?: number): Record<string, string>;
  serviceHeaders(): Record<string, string>;
  fnUrl(name: string): string;
  /** The function's own isolate (started if it is not running), bypassing the gateway. */
  directUrl(name: string): Promise<string>;
  post(url: string, body: unknown, headers: Record<string, string>): Promise<Posted>;
  simConfig(sim: "tripo" | "openai", body: Record<string, unknown>): Promise<void>;
  /** Returns once this stack's process-jobs loop has nothing left and has stopped. */
  quiesceWorker(): Promise<void>;
  /** Stops this stack's process-jobs isolate until the next request boots it again. */
  pauseWorker(): Promise<void>;
}

export interface Posted {
  status: number;
  ms: number;
  body: string;
}

async function post(url: string, body: unknown, headers: Record<string, string>) {
  const started = performance.now();
  const r = await fetch(url, { method: "POST", headers, body: JSON.stringify(body) });
  const text = await r.text();
  return { status: r.status, ms: performance.now() - started, body: text };
}

export async function handleFor(name: string, s: Stack, users: string[]): Promise<StackHandle> {
  const now = Math.floor(Date.now() / 1000);
  // As Supabase Auth issues them now: ES256 with the project's signing key and its kid.
  const sign = (i: number) =>
    signToken(s.keys, {
      sub: users[i % users.length],
      role: "authenticated",
      aud: "authenticated",
      email: `bench-${(i % users.length) + 1}@example.com`,
      session_id: crypto.randomUUID(),
      iat: now,
      exp: now + 3 * 3600,
    }, "ES256");
  const tokens = await Promise.all(users.map((_, i) => sign(i)));
  const fnUrl = (fn: string) => `${s.url}/functions/v1/${fn}`;
  const serviceHeaders = () => ({ apikey: s.serviceKey, "content-type": "application/json" });
  const h: StackHandle = {
    name,
    stack: s,
    tokens,
    freshTokens: (n) => Promise.all(Array.from({ length: n }, (_, i) => sign(i))),
    authHeaders: (i = 0) => ({
      authorization: `Bearer ${tokens[i % tokens.length]}`,
      "content-type": "application/json",
    }),
    serviceHeaders,
    fnUrl,
    directUrl: async (fn) =>
      `http://127.0.0.1:${(await s.functions.get(fn)!.ensureRunning()).port}/${fn}`,
    post,
    async simConfig(sim, body) {
      const base = sim === "tripo" ? s.tripoUrl : s.openaiUrl;
      const r = await fetch(`${base}/__sim/config`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      });
      if (!r.ok) throw new Error(`sim config ${sim}: ${r.status} ${await r.text()}`);
      await r.body?.cancel();
    },
    async quiesceWorker() {
      const r = await fetch(`${fnUrl("process-jobs")}?wait=true`, {
        method: "POST",
        headers: serviceHeaders(),
        body: "{}",
      });
      await r.body?.cancel();
    },
    async pauseWorker() {
      await s.functions.get("process-jobs")!.kill("SIGTERM");
    },
  };
  await h.simConfig("tripo", { queueMs: 0, runMs: 0, cap: 100000 });
  await h.simConfig("openai", { latencyMs: 0 });
  return h;
}
