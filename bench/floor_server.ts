// The floor: the least a generation POST can do on this platform as it is now — Hono routing,
// an ES256 user token verified against the project's JWKS (jose's local JWKS set, audience
// `authenticated`), zod body validation, and ONE insert statement (no client-side transaction),
// through the same transaction pooler the functions use, with the functions' connection
// settings (postgres.js `poolOptions(2)`: prepare off, a pool of 2, as a generation isolate
// gets) and their way of sending a statement (values inlined: one round trip, sql_literals.ts).
// Served two ways: as an Edge Function of the bench's stack (StackOptions.extraFunctions: the
// same runtime, gateway and platform variables as the product's functions, which is what "on
// the platform" means), and as a bare `deno run` process bound through DENO_SERVE_ADDRESS
// (FLOOR_* variables), a reference without the runtime.
import { Hono } from "hono";
import { z } from "zod";
import * as jose from "jose";
import postgres from "postgres";
import { poolOptions } from "../supabase/functions/_shared/db.ts";
import { inlined } from "../supabase/functions/_shared/sql_literals.ts";

const env = (name: string) => Deno.env.get(`FLOOR_${name}`) ?? Deno.env.get(`SUPABASE_${name}`);
const jwks = jose.createLocalJWKSet(JSON.parse(env("JWKS") ?? '{"keys":[]}'));
const sql = postgres(env("DB_URL") ?? "", poolOptions(2));
// The functions' way of sending a statement: values inlined, one round trip (db.ts).
const q = inlined(sql);

const body = z.strictObject({
  task_id: z.string().regex(/^[A-Za-z0-9_-]{1,128}$/),
  prompt: z.string().min(1).max(1024),
});

const app = new Hono().basePath("/floor");
app.post("/", async (c) => {
  const token = c.req.header("authorization")?.match(/^Bearer\s+(\S+)$/i)?.[1];
  if (!token) return c.json({ error: { code: "unauthorized" } }, 401);
  let sub: string;
  try {
    const { payload } = await jose.jwtVerify(token, jwks, {
      algorithms: ["ES256"],
      audience: "authenticated",
    });
    if (typeof payload.sub !== "string") throw new Error("no sub");
    sub = payload.sub;
  } catch {
    return c.json({ error: { code: "unauthorized" } }, 401);
  }
  const parsed = body.safeParse(await c.req.json().catch(() => null));
  if (!parsed.success) return c.json({ error: { code: "validation_failed" } }, 400);
  const [row] = await q`
    insert into bench.floor_jobs (user_id, task_id, prompt)
    values (${sub}::uuid, ${parsed.data.task_id}, ${parsed.data.prompt})
    returning id`;
  return c.json({ job_id: row.id, status: "pending" }, 202);
});

Deno.serve(app.fetch);
