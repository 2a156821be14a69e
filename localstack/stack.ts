// The local Supabase stand-in as one call: the database (bootstrap + every migration through the
// Supabase CLI), the gateway with Storage, Auth and Realtime, the provider simulators and every
// Edge Function in isolates of its own. `npm run dev` (localstack/main.ts), the tests and the
// benchmark all start it through `startStack()`.
import { createKeys, type StackKeys } from "./keys.ts";
import {
  createDatabase,
  databaseExists,
  dropDatabase,
  migrate,
  PROJECT_ROOT,
  withDatabase,
} from "./db/prepare.ts";
import { resolveAdminUrl } from "./db/cluster.ts";
import { type PgBouncer, startPgBouncer } from "./db/pgbouncer.ts";
import { standinPool } from "./db/standin_pool.ts";
import { type FunctionConfig, FunctionRunner, readFunctionConfig } from "./runtime/runner.ts";
import { createGateway } from "./gateway.ts";
import { createConsoleHandler } from "./console.ts";
import { createStorageHandler } from "./storage/mod.ts";
import { createAuthHandler } from "./auth/mod.ts";
import { createRealtime, type Realtime } from "./realtime/mod.ts";
import { startSimulators } from "./simulators/serve.ts";
import { PASSED_THROUGH, platformEnv, type ProjectKind } from "./platform_env.ts";

// Local-only stand-in credentials for the simulators (not real keys).
const SIM_TRIPO_KEY = "tsk_local_simulator";
const SIM_OPENAI_KEY = "sk-local-simulator";

export interface StackOptions {
  /** Gateway port (0 = any free port). Default 54321, Supabase's own local API port. */
  port?: number;
  /** Database to use; migrations are applied to it. Default: SUPABASE_DB_URL, else `makeit3d_dev`. */
  dbUrl?: string;
  /** Skip bootstrap + migrations (the database is already prepared). */
  skipMigrations?: boolean;
  /** Folder for Storage object bytes. */
  dataDir?: string;
  /**
   * Which project the functions find themselves in: `current` (new API keys, ES256 user tokens
   * through the JWKS; the default) or `legacy` (JWT keys, HS256 user tokens).
   */
  project?: ProjectKind;
  /** Retire every function isolate as soon as it is idle (the platform's EarlyDrop). */
  earlyDrop?: boolean;
  /** Wall clock of a function isolate (default 150 000 ms). */
  wallClockMs?: number;
  /** Extra or overriding environment for the functions (e.g. another simulator's URL). */
  functionEnv?: Record<string, string>;
  /**
   * Stand-in for the pg_cron schedule of process-jobs (hosted: every 5 s through pg_net, with
   * the secret key from Vault). 0 disables it. Default 5000 ms.
   */
  cronIntervalMs?: number;
  /**
   * Serve the provider simulators from a process of their own instead of the stack's event loop
   * (default false), so their work (making a GLB or a PNG) never holds up the gateway.
   */
  simulatorsProcess?: boolean;
  /** Print function logs (default true). */
  logFunctions?: boolean;
  /**
   * Functions from outside supabase/functions served beside the project's, as if deployed to
   * it (same runtime, environment and gateway): the benchmark's floor. Default none.
   */
  extraFunctions?: FunctionConfig[];
  log?: (line: string) => void;
}

export interface Stack {
  url: string;
  /** The direct database URL (migrations, stand-ins, tests). */
  dbUrl: string;
  /** The transaction pooler the functions reach the database through (SUPABASE_DB_URL). */
  pooler: PgBouncer;
  /** The pooler URL of the stack's database. */
  poolerUrl: string;
  project: ProjectKind;
  keys: StackKeys;
  /** The key the project's services call process-jobs with (what cron has in Vault). */
  serviceKey: string;
  tripoUrl: string;
  openaiUrl: string;
  /** The simulators' own process (`simulatorsProcess`), else null. */
  simulatorsPid: number | null;
  outputsBucket: string;
  functions: Map<string, FunctionRunner>;
  /** The Realtime stand-in (`restart()` cuts every socket, as a crash would). */
  realtime: Realtime;
  /** The environment each function isolate gets. */
  functionEnv: Record<string, string>;
  /** Environment variables describing this stack for tests (STACK_*). */
  testEnv(): Promise<Record<string, string>>;
  stop(): Promise<void>;
}

function serve(port: number, handler: (req: Request) => Response | Promise<Response>) {
  const server = Deno.serve(
    {
      hostname: "127.0.0.1",
      port,
      onListen: () => {},
      onError: () => new Response(null, { status: 500 }),
    },
    handler,
  );
  return { server, port: server.addr.port, url: `http://127.0.0.1:${server.addr.port}` };
}

/**
 * The stack's own dev database, created when missing. One whose migration history this tree
 * does not know (made before the baseline of 2026-12-01 collapsed the first migrations) is
 * local scratch data: it is made again rather than leaving the dev command broken. A database
 * named in SUPABASE_DB_URL is never touched.
 */
async function ensureDevDatabase(admin: string, log: (l: string) => void, skip?: boolean) {
  const name = "makeit3d_dev";
  if (await databaseExists(admin, name)) {
    if (skip) return;
    try {
      await migrate(withDatabase(admin, name), { quiet: true });
      return;
    } catch (e) {
      if (!/Remote migration versions not found/.test(String(e))) throw e;
      log(
        `[stack] ${name} has migrations this tree does not know (an older layout); recreating it`,
      );
      await dropDatabase(admin, name);
    }
  }
  await createDatabase(admin, name);
}

export async function startStack(opts: StackOptions = {}): Promise<Stack> {
  const log = opts.log ?? ((line: string) => console.error(line));
  const env = Deno.env.toObject();
  const project = opts.project ?? "current";
  let dbUrl = opts.dbUrl;
  if (!dbUrl) {
    // SUPABASE_DB_URL as given (an unreachable one stops here with one line naming it), else
    // 5432 when it answers, else a private cluster of the stack's own.
    const admin = (await resolveAdminUrl({ log })).adminUrl;
    dbUrl = env.SUPABASE_DB_URL ?? withDatabase(admin, "makeit3d_dev");
    if (!env.SUPABASE_DB_URL) await ensureDevDatabase(admin, log, opts.skipMigrations);
  }
  if (!opts.skipMigrations) await migrate(dbUrl);
  // The functions reach the database as hosted functions reach Supavisor: through a pooler in
  // transaction mode. Migrations, the stand-ins and the tests use the direct URL.
  const pooler = await startPgBouncer({
    upstreamUrl: withDatabase(dbUrl, "postgres"),
    runDir: `${PROJECT_ROOT}.runs`,
    log: (l) => {
      if (opts.logFunctions ?? true) log(`[pgbouncer] ${l}`);
    },
  });
  const poolerUrl = pooler.url(decodeURIComponent(new URL(dbUrl).pathname.slice(1)));

  // The gateway must know its own URL before the keys (issuer) exist: bind first.
  let handler: (req: Request) => Promise<Response> = () =>
    Promise.resolve(new Response("starting", { status: 503 }));
  const gateway = serve(opts.port ?? 54321, (req) => handler(req));
  const publicUrl = gateway.url;
  const keys = await createKeys({
    publicUrl,
    jwtSecret: env.SUPABASE_JWT_SECRET,
    userTokenAlg: project === "legacy" ? "HS256" : "ES256",
  });

  const sims = await startSimulators({ process: opts.simulatorsProcess });
  const tripo = { url: sims.tripoUrl, port: new URL(sims.tripoUrl).port };
  const openai = { url: sims.openaiUrl, port: new URL(sims.openaiUrl).port };

  // One named pool per stand-in (see db/standin_pool.ts for why these options).
  const storageSql = standinPool(dbUrl, "standin-storage");
  const authSql = standinPool(dbUrl, "standin-auth");
  const dataDir = opts.dataDir ??
    `${PROJECT_ROOT}.runs/storage-${new URL(dbUrl).pathname.slice(1)}`;
  await Deno.mkdir(dataDir, { recursive: true });

  const useRealTripo = Boolean(env.TRIPO_API_KEY);
  const useRealOpenAI = Boolean(env.OPENAI_API_KEY);
  const functionEnv: Record<string, string> = {
    ...platformEnv(project, { url: publicUrl, keys, dbUrl: poolerUrl }),
    TRIPO_API_KEY: useRealTripo ? env.TRIPO_API_KEY : SIM_TRIPO_KEY,
    TRIPO_API_BASE_URL: env.TRIPO_API_BASE_URL ??
      (useRealTripo ? "https://api.tripo3d.ai/v2/openapi" : `${tripo.url}/v2/openapi`),
    OPENAI_API_KEY: useRealOpenAI ? env.OPENAI_API_KEY : SIM_OPENAI_KEY,
    OPENAI_BASE_URL: env.OPENAI_BASE_URL ??
      (useRealOpenAI ? "https://api.openai.com/v1" : `${openai.url}/v1`),
  };
  for (const name of PASSED_THROUGH) if (env[name]) functionEnv[name] = env[name];
  // The simulators serve their own output files on loopback; allow exactly those.
  functionEnv.PROVIDER_ASSET_HOSTS = [
    env.PROVIDER_ASSET_HOSTS,
    `127.0.0.1:${tripo.port}`,
    `127.0.0.1:${openai.port}`,
  ].filter(Boolean).join(",");
  Object.assign(functionEnv, opts.functionEnv ?? {});
  const outputsBucket = functionEnv.GENERATED_ASSETS_BUCKET ?? "generated-assets";
  const serviceKey = project === "legacy" ? keys.serviceRoleKey : keys.secretKey;

  const logFunctions = opts.logFunctions ?? true;
  const runtime = { earlyDrop: opts.earlyDrop ?? false, wallClockMs: opts.wallClockMs };
  const functions = new Map<string, FunctionRunner>();
  for (const cfg of [...await readFunctionConfig(), ...opts.extraFunctions ?? []]) {
    // An extra function never silently replaces one of the project's.
    if (functions.has(cfg.name)) throw new Error(`stack: function ${cfg.name} is defined twice`);
    functions.set(
      cfg.name,
      new FunctionRunner(cfg, functionEnv, runtime, (line) => {
        if (logFunctions) log(`[${cfg.name}] ${line}`);
      }),
    );
  }

  const storage = createStorageHandler({ sql: storageSql, keys, dataDir, publicUrl });
  const auth = createAuthHandler({ sql: authSql, keys, publicUrl });
  const realtime = await createRealtime({ dbUrl, keys, log: (l) => log(`[realtime] ${l}`) });
  const consolePage = createConsoleHandler({
    publicUrl,
    publishableKey: keys.publishableKey,
    log: (l) => log(l),
  });
  handler = createGateway({
    keys,
    functions,
    storage,
    auth,
    realtime: realtime.handler,
    console: consolePage,
    log,
  });
  await Promise.all([...functions.values()].map((f) => f.ensureRunning()));

  const cronMs = opts.cronIntervalMs ?? 5000;
  const cron = cronMs > 0
    ? setInterval(() => {
      fetch(`${publicUrl}/functions/v1/process-jobs`, {
        method: "POST",
        headers: { apikey: serviceKey, "content-type": "application/json" },
        body: JSON.stringify({ source: "cron" }),
      }).then((r) => r.body?.cancel()).catch(() => {});
    }, cronMs)
    : undefined;

  return {
    url: publicUrl,
    dbUrl,
    pooler,
    poolerUrl,
    project,
    keys,
    serviceKey,
    tripoUrl: tripo.url,
    openaiUrl: openai.url,
    simulatorsPid: sims.pid,
    outputsBucket,
    functions,
    realtime,
    functionEnv,
    async testEnv() {
      const { exportJWK } = await import("jose");
      const priv = await exportJWK(keys.es256PrivateKey);
      return {
        STACK_URL: publicUrl,
        STACK_PROJECT: project,
        STACK_PUBLISHABLE_KEY: keys.publishableKey,
        STACK_SECRET_KEY: keys.secretKey,
        STACK_ANON_KEY: keys.anonKey,
        STACK_SERVICE_ROLE_KEY: keys.serviceRoleKey,
        STACK_JWT_SECRET: keys.jwtSecret,
        STACK_JWKS: JSON.stringify(keys.jwks),
        STACK_ES256_PRIVATE_JWK: JSON.stringify({ ...priv, kid: keys.es256Kid, alg: "ES256" }),
        STACK_DB_URL: dbUrl,
        STACK_POOLER_URL: poolerUrl,
        STACK_TRIPO_URL: tripo.url,
        STACK_OPENAI_URL: openai.url,
        STACK_SERVICE_KEY: serviceKey,
        STACK_OUTPUTS_BUCKET: outputsBucket,
      };
    },
    async stop() {
      if (cron) clearInterval(cron);
      // Each part gets a bounded time, so one that hangs (a client that never lets go of a
      // request) is named in the log and the rest, the pooler's process included, still stops.
      const part = (what: string, p: Promise<unknown>) => bounded(what, p, log);
      await part("functions", Promise.all([...functions.values()].map((f) => f.stop())));
      await part("realtime", realtime.stop());
      await part("gateway and simulators", Promise.all([gateway.server.shutdown(), sims.stop()]));
      await part(
        "stand-in pools",
        Promise.all([storageSql.end({ timeout: 5 }), authSql.end({ timeout: 5 })]),
      );
      await pooler.stop();
    },
  };
}

const STOP_PART_MS = 20_000;

/** Waits for `p` at most STOP_PART_MS; past that, logs what is still stopping and goes on. */
async function bounded(what: string, p: Promise<unknown>, log: (l: string) => void) {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<"late">((r) => timer = setTimeout(() => r("late"), STOP_PART_MS));
  try {
    const r = await Promise.race([p.then(() => "done" as const), late]);
    if (r === "late") log(`stop: ${what} still stopping after ${STOP_PART_MS} ms; going on`);
  } finally {
    clearTimeout(timer);
  }
}
