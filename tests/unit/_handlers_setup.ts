// The setup shared by the endpoint handlers' tests (handlers_requests, handlers_errors_auth):
// a config with an ES256 JWKS and a user's token, fakes for the database, Storage and the nudge
// (GenerateDeps is the seam), a generation app of one kind, a POST to it, an input's URL.
import * as jose from "jose";
import { createApp } from "../../supabase/functions/_shared/app.ts";
import { requireUser } from "../../supabase/functions/_shared/auth.ts";
import { loadConfig } from "../../supabase/functions/_shared/config.ts";
import type { EnqueueInput, EnqueueResult } from "../../supabase/functions/_shared/db.ts";
import {
  createGenerateHandler,
  type GenerateDeps,
} from "../../supabase/functions/_shared/handlers/generate.ts";
import { PLANS } from "../../supabase/functions/_shared/jobs/plans.ts";

const URL_ = "https://ref.supabase.co";
export const { privateKey, publicKey } = await jose.generateKeyPair("ES256", { extractable: true });
const jwks = { keys: [{ ...(await jose.exportJWK(publicKey)), kid: "k1", alg: "ES256" }] };
export const config = loadConfig({
  SUPABASE_URL: URL_,
  SUPABASE_PUBLISHABLE_KEYS: '{"default":"sb_publishable_unit"}',
  SUPABASE_SECRET_KEYS: '{"default":"sb_secret_unit"}',
  SUPABASE_JWKS: JSON.stringify(jwks),
  SUPABASE_DB_URL: "postgres://unused",
  PROCESS_JOBS_SECRET: "unit-process-jobs-secret",
}, { userTokens: true });
export const userId = crypto.randomUUID();
export const token = await new jose.SignJWT({
  sub: userId,
  role: "authenticated",
  aud: "authenticated",
  exp: Math.floor(Date.now() / 1000) + 600,
}).setProtectedHeader({ alg: "ES256", kid: "k1" }).sign(privateKey);

const PNG = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13]);
const GLB = new Uint8Array([0x67, 0x6c, 0x54, 0x46, 2, 0, 0, 0, 100, 0, 0, 0]);

export function fakes(result: EnqueueResult = { outcome: "created", job_id: crypto.randomUUID() }) {
  const enqueued: EnqueueInput[] = [];
  let nudges = 0;
  const deps: GenerateDeps = {
    config,
    db: {
      enqueueJob: (i) => {
        enqueued.push(i);
        return Promise.resolve(result);
      },
      jobStatus: () => Promise.resolve(undefined),
      findSourceModel: (_u, _b, path) =>
        Promise.resolve(
          path.endsWith("mine.glb")
            ? { taskId: "draft-1", modelId: crypto.randomUUID(), modelVersion: null }
            : path.endsWith("old.glb")
            ? { taskId: "draft-2", modelId: crypto.randomUUID(), modelVersion: "v1.4-20240625" }
            : null,
        ),
      ownsDraft: (_u, id) => Promise.resolve(id === "draft-1"),
    },
    storage: {
      readHeadAsUser: (ref) =>
        Promise.resolve(
          ref.path.endsWith(".glb")
            ? { status: 206, head: GLB, size: 1000 }
            : ref.path.includes("forbidden")
            ? { status: 400, head: new Uint8Array(), size: 0 }
            : { status: 206, head: PNG, size: 1000 },
        ),
    },
    nudge: () => void nudges++,
  };
  return { deps, enqueued, nudges: () => nudges };
}

export function app(deps: GenerateDeps, kind: keyof typeof PLANS) {
  const { app } = createApp("fn", { ...config, LOG_LEVEL: "error" });
  app.use("*", requireUser(config));
  app.post("/", createGenerateHandler(PLANS[kind] as typeof PLANS.text_to_model, deps));
  return app;
}

export async function post(
  a: ReturnType<typeof app>,
  body: unknown,
  headers: Record<string, string> = {},
) {
  const res = await a.request("/fn", {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });
  return { status: res.status, headers: res.headers, body: await res.json() };
}

export const img = (name: string) =>
  `${URL_}/storage/v1/object/authenticated/input-assets/${userId}/${name}`;
