// Each chaos test runs its OWN stack on its own database (cloned from the run's template) with
// its own provider simulators, so faults never disturb the shared stack. Acting as the app goes
// through the same helpers as every stack test (tests/_helpers/app.ts), aimed at this stack.
import postgres from "postgres";
import { type Stack, startStack } from "../../../localstack/stack.ts";
import { createDatabase, dropDatabase, PROJECT_ROOT } from "../../../localstack/db/prepare.ts";
import {
  call,
  newUser as newAppUser,
  type Target,
  type TestUser,
  uploadInput as upload,
} from "../../_helpers/app.ts";
import { type Sims, sleep, startSims } from "./sims.ts";
import { JOB_KINDS, type JobKind } from "../../../supabase/functions/_shared/jobs/schemas.ts";

const ADMIN_URL = Deno.env.get("STACK_ADMIN_DB_URL") ??
  "postgres://postgres@127.0.0.1:5432/postgres";

export interface ChaosStack {
  name: string;
  stack: Stack;
  /** What clients and functions use as SUPABASE_URL (the gateway, or a proxy in front). */
  url: string;
  gatewayUrl: string;
  dbUrl: string;
  dataDir: string;
  sql: postgres.Sql;
  sims: Sims;
  failDir: string;
  env: Record<string, string>;
  restart(extraEnv?: Record<string, string>): Promise<void>;
  stop(): Promise<void>;
}

export const FAST_ENV: Record<string, string> = {
  RATE_LIMIT_IMAGE_PER_MINUTE: "100000",
  RATE_LIMIT_MODEL_PER_MINUTE: "100000",
  RATE_LIMIT_REFINE_PER_MINUTE: "100000",
  USER_MAX_ACTIVE_JOBS: "100000",
  PROCESS_JOBS_BUDGET_MS: "20000",
  JOB_DEADLINE_SECONDS: "600",
  // Crashed invocations' jobs are taken over after 15 s instead of the default 60 s.
  JOB_LEASE_SECONDS: "15",
  LOG_LEVEL: "error",
};

export async function startChaosStack(opts: {
  label: string;
  env?: Record<string, string>;
  cronIntervalMs?: number;
  sims?: Sims;
  /** Retire every function isolate once it is idle (the platform's EarlyDrop). */
  earlyDrop?: boolean;
  /** Put a proxy between the functions and the gateway (`SUPABASE_URL` → proxy). */
  proxy?: { url: string; port: number; setTarget(url: string): void };
}): Promise<ChaosStack> {
  const template = Deno.env.get("STACK_TEMPLATE_DB");
  if (!template) throw new Error("STACK_TEMPLATE_DB is not set: run through `npm run chaos`");
  const name = `makeit3d_t${Date.now()}_chaos_${opts.label.replace(/[^a-z0-9]/g, "")}`;
  const dbUrl = await createDatabase(ADMIN_URL, name, template);
  const dataDir = `${PROJECT_ROOT}.runs/storage-${name}`;
  const failDir = await Deno.makeTempDir({ prefix: "failpoints-" });
  const sims = opts.sims ?? startSims();
  const env: Record<string, string> = {
    ...FAST_ENV,
    ...sims.env(),
    FAILPOINT_DIR: failDir,
    ...opts.env,
  };
  const cs = {} as ChaosStack;
  const boot = async (extra: Record<string, string> = {}) => {
    const fe = { ...env, ...extra };
    if (opts.proxy) fe.SUPABASE_URL = opts.proxy.url;
    const stack = await startStack({
      port: 0,
      dbUrl,
      skipMigrations: true,
      dataDir,
      cronIntervalMs: opts.cronIntervalMs ?? 500,
      earlyDrop: opts.earlyDrop,
      logFunctions: Deno.env.get("CHAOS_LOG") === "1",
      functionEnv: fe,
    });
    opts.proxy?.setTarget(stack.url);
    cs.stack = stack;
    cs.gatewayUrl = stack.url;
    cs.url = opts.proxy ? opts.proxy.url : stack.url;
  };
  await boot();
  Object.assign(cs, {
    name,
    dbUrl,
    dataDir,
    sims,
    failDir,
    env,
    sql: postgres(dbUrl, {
      max: 3,
      onnotice: () => {},
      connection: { application_name: "chaos-harness" },
    }),
    restart: async (extra?: Record<string, string>) => {
      await cs.stack.stop();
      await boot(extra);
    },
    stop: async () => {
      await cs.stack.stop().catch(() => {});
      await cs.sql.end({ timeout: 2 }).catch(() => {});
      if (!opts.sims) await sims.close();
      await dropDatabase(ADMIN_URL, name).catch(() => {});
      await Deno.remove(dataDir, { recursive: true }).catch(() => {});
      await Deno.remove(failDir, { recursive: true }).catch(() => {});
    },
  });
  return cs;
}

// --- acting as the app -----------------------------------------------------------------------

export type User = TestUser;

/** The chaos stack as a target of the shared app helpers (its own gateway and keys). */
export const target = (cs: ChaosStack): Target => ({
  url: cs.gatewayUrl,
  publishableKey: cs.stack.keys.publishableKey,
  secretKey: cs.stack.keys.secretKey,
});

export function newUser(cs: ChaosStack, label = "u"): Promise<User> {
  return newAppUser(label, target(cs));
}

/** Uploads an input as the user; the URL names the origin the functions know (cs.url). */
export function uploadInput(cs: ChaosStack, user: User, name: string, bytes: Uint8Array) {
  return upload(user, name, bytes, "image/png", "authenticated", cs.url);
}

export type Kind = JobKind;

const FN = Object.fromEntries(
  JOB_KINDS.map((k) => [k, `generate-${k.replaceAll("_", "-")}`]),
) as Record<Kind, string>;

export function callFn(
  cs: ChaosStack,
  user: User | null,
  path: string,
  init: { method?: string; body?: unknown } = {},
) {
  return call(path, { token: user?.token ?? null, ...init }, target(cs));
}

/** Starts a job; answers its id (asserting the 202). */
export async function generate(
  cs: ChaosStack,
  user: User,
  kind: Kind,
  body: Record<string, unknown>,
): Promise<string> {
  for (let i = 0; i < 5; i++) {
    const r = await callFn(cs, user, FN[kind], { body });
    if (r.status === 202) return r.body.job_id as string;
    // The gateway answers 500 WORKER_ERROR when a function died under the request; retry.
    if (r.status >= 500) {
      await sleep(200);
      continue;
    }
    throw new Error(`${kind}: HTTP ${r.status} ${JSON.stringify(r.body)}`);
  }
  throw new Error(`${kind}: could not enqueue`);
}

/** POST process-jobs as cron would (through the gateway). */
export async function kick(cs: ChaosStack, wait = false): Promise<number> {
  try {
    const res = await fetch(
      `${cs.gatewayUrl}/functions/v1/process-jobs${wait ? "?wait=true" : ""}`,
      {
        method: "POST",
        headers: { apikey: cs.stack.serviceKey, "content-type": "application/json" },
        body: "{}",
      },
    );
    await res.body?.cancel();
    return res.status;
  } catch {
    return 0;
  }
}

export interface JobRow {
  id: string;
  kind: Kind;
  provider: string;
  state: string;
  error_code: string | null;
  error_message: string | null;
  provider_task_id: string | null;
  result: { outputs?: { bucket: string; path: string }[] } | null;
  attempts: number;
}

export async function jobRows(cs: ChaosStack, ids: string[]): Promise<JobRow[]> {
  return await cs.sql<JobRow[]>`
    select id, kind, provider, state, error_code, error_message, provider_task_id, result, attempts
    from public.jobs where id = any(${ids}::uuid[])`;
}

const TERMINAL = new Set(["succeeded", "failed", "cancelled"]);

/**
 * Waits (bounded) until every job is terminal; `kickEveryMs` drives process-jobs when the
 * stack has no cron. Returns the rows; throws listing the stragglers on timeout.
 */
export async function waitTerminal(
  cs: ChaosStack,
  ids: string[],
  timeoutMs: number,
  kickEveryMs = 0,
): Promise<JobRow[]> {
  const deadline = Date.now() + timeoutMs;
  let lastKick = 0;
  let rows: JobRow[] = [];
  while (Date.now() < deadline) {
    rows = await jobRows(cs, ids);
    if (rows.length === ids.length && rows.every((r) => TERMINAL.has(r.state))) return rows;
    if (kickEveryMs && Date.now() - lastKick > kickEveryMs) {
      lastKick = Date.now();
      void kick(cs);
    }
    await sleep(250);
  }
  const open = rows.filter((r) => !TERMINAL.has(r.state));
  throw new Error(
    `${open.length + ids.length - rows.length} jobs not terminal after ${timeoutMs} ms: ` +
      JSON.stringify(open.slice(0, 5)),
  );
}
