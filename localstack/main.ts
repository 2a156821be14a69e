// The local Supabase stand-in: one command brings up the database, the gateway with Storage and
// Auth, the provider simulators and every Edge Function. `npm run dev` runs this file;
// tests and the benchmark call `startStack()`.
import postgres from "postgres";
import { createKeys, type StackKeys } from "./keys.ts";
import {
  createDatabase,
  databaseExists,
  DEFAULT_ADMIN_URL,
  migrate,
  PROJECT_ROOT,
  withDatabase,
} from "./db/prepare.ts";
import { FunctionProcess, readFunctionConfig } from "./functions.ts";
import { createGateway } from "./gateway.ts";
import { createStorageHandler } from "./storage/mod.ts";
import { createAuthHandler } from "./auth/mod.ts";
import { createTripoSimulator } from "./simulators/tripo.ts";
import { createOpenAISimulator } from "./simulators/openai.ts";

// Local-only stand-in credentials for the simulators (not real keys).
const SIM_TRIPO_KEY = "tsk_local_simulator";
const SIM_OPENAI_KEY = "sk-local-simulator";
const LOCAL_PROCESS_JOBS_SECRET = "local-process-jobs-secret";

export interface StackOptions {
  /** Gateway port (0 = any free port). Default 54321, Supabase's local API port. */
  port?: number;
  /** Database to use; migrations are applied to it. Default: SUPABASE_DB_URL, else `makeit3d_dev`. */
  dbUrl?: string;
  /** Skip bootstrap + migrations (the database is already prepared). */
  skipMigrations?: boolean;
  /** Folder for Storage object bytes. */
  dataDir?: string;
  /** Sign user sessions with HS256 (default) or ES256 (verified through the JWKS). */
  userTokenAlg?: "HS256" | "ES256";
  /** Extra or overriding environment for the functions (e.g. another simulator's URL). */
  functionEnv?: Record<string, string>;
  /**
   * Stand-in for the pg_cron schedule of process-jobs (hosted: every 5 s through pg_net).
   * 0 disables it. Default 5000 ms.
   */
  cronIntervalMs?: number;
  /** Print function logs (default true). */
  logFunctions?: boolean;
  log?: (line: string) => void;
}

export interface Stack {
  url: string;
  dbUrl: string;
  keys: StackKeys;
  tripoUrl: string;
  openaiUrl: string;
  processJobsSecret: string;
  outputsBucket: string;
  functions: Map<string, FunctionProcess>;
  /** The environment each function process gets. */
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

export async function startStack(opts: StackOptions = {}): Promise<Stack> {
  const log = opts.log ?? ((line: string) => console.error(line));
  const env = Deno.env.toObject();
  const dbUrl = opts.dbUrl ?? env.SUPABASE_DB_URL ??
    withDatabase(DEFAULT_ADMIN_URL, "makeit3d_dev");
  if (!opts.dbUrl && !env.SUPABASE_DB_URL) {
    const name = new URL(dbUrl).pathname.slice(1);
    if (!(await databaseExists(DEFAULT_ADMIN_URL, name))) {
      await createDatabase(DEFAULT_ADMIN_URL, name);
    }
  }
  if (!opts.skipMigrations) await migrate(dbUrl);

  // The gateway must know its own URL before the keys (issuer) exist: bind first.
  let handler: (req: Request) => Promise<Response> = () =>
    Promise.resolve(new Response("starting", { status: 503 }));
  const gateway = serve(opts.port ?? 54321, (req) => handler(req));
  const publicUrl = gateway.url;
  const keys = await createKeys({
    publicUrl,
    jwtSecret: env.SUPABASE_JWT_SECRET,
    userTokenAlg: opts.userTokenAlg,
  });

  // Simulators build output URLs from their own origin, so bind first, then create them.
  let tripoHandler: (req: Request) => Promise<Response> = () =>
    Promise.resolve(new Response(null, { status: 503 }));
  let openaiHandler = tripoHandler;
  const tripo = serve(0, (req) => tripoHandler(req));
  const openai = serve(0, (req) => openaiHandler(req));
  const tripoSim = createTripoSimulator({ publicUrl: tripo.url });
  const openaiSim = createOpenAISimulator({ publicUrl: openai.url });
  tripoHandler = (req) => tripoSim.fetch(req);
  openaiHandler = (req) => openaiSim.fetch(req);

  const sql = postgres(dbUrl, { max: 10, onnotice: () => {} });
  const dataDir = opts.dataDir ??
    `${PROJECT_ROOT}.runs/storage-${new URL(dbUrl).pathname.slice(1)}`;
  await Deno.mkdir(dataDir, { recursive: true });

  const useRealTripo = Boolean(env.TRIPO_API_KEY);
  const useRealOpenAI = Boolean(env.OPENAI_API_KEY);
  const outputsBucket = env.GENERATED_ASSETS_BUCKET ?? "generated-assets";
  const processJobsSecret = env.PROCESS_JOBS_SECRET ?? LOCAL_PROCESS_JOBS_SECRET;
  const functionEnv: Record<string, string> = {
    SUPABASE_URL: publicUrl,
    SUPABASE_ANON_KEY: keys.anonKey,
    SUPABASE_SERVICE_ROLE_KEY: keys.serviceRoleKey,
    SUPABASE_DB_URL: dbUrl,
    SUPABASE_JWT_SECRET: keys.jwtSecret,
    SUPABASE_JWKS: JSON.stringify(keys.jwks),
    GENERATED_ASSETS_BUCKET: outputsBucket,
    PROCESS_JOBS_SECRET: processJobsSecret,
    TRIPO_API_KEY: useRealTripo ? env.TRIPO_API_KEY : SIM_TRIPO_KEY,
    TRIPO_API_BASE_URL: env.TRIPO_API_BASE_URL ??
      (useRealTripo ? "https://api.tripo3d.ai/v2/openapi" : `${tripo.url}/v2/openapi`),
    OPENAI_API_KEY: useRealOpenAI ? env.OPENAI_API_KEY : SIM_OPENAI_KEY,
    OPENAI_BASE_URL: env.OPENAI_BASE_URL ??
      (useRealOpenAI ? "https://api.openai.com/v1" : `${openai.url}/v1`),
    // The simulators serve their own output files on loopback; allow exactly those.
    PROVIDER_ASSET_HOSTS: [
      env.PROVIDER_ASSET_HOSTS,
      `127.0.0.1:${tripo.port}`,
      `127.0.0.1:${openai.port}`,
    ]
      .filter(Boolean).join(","),
  };
  for (
    const name of [
      "TRIPO_MAX_CONCURRENCY",
      "RATE_LIMIT_IMAGE_PER_MINUTE",
      "RATE_LIMIT_MODEL_PER_MINUTE",
      "RATE_LIMIT_REFINE_PER_MINUTE",
      "USER_MAX_ACTIVE_JOBS",
      "LOG_LEVEL",
    ]
  ) {
    if (env[name]) functionEnv[name] = env[name];
  }
  Object.assign(functionEnv, opts.functionEnv ?? {});

  const logFunctions = opts.logFunctions ?? true;
  const functions = new Map<string, FunctionProcess>();
  for (const cfg of await readFunctionConfig()) {
    functions.set(
      cfg.name,
      new FunctionProcess(cfg, functionEnv, (line) => {
        if (logFunctions) log(`[${cfg.name}] ${line}`);
      }),
    );
  }

  const storage = createStorageHandler({ sql, keys, dataDir, publicUrl });
  const auth = createAuthHandler({ sql, keys, publicUrl });
  handler = createGateway({ keys, functions, storage, auth, log });
  await Promise.all([...functions.values()].map((f) => f.ensureRunning()));

  const cronMs = opts.cronIntervalMs ?? 5000;
  const cron = cronMs > 0
    ? setInterval(() => {
      fetch(`${publicUrl}/functions/v1/process-jobs`, {
        method: "POST",
        headers: {
          authorization: `Bearer ${processJobsSecret}`,
          "content-type": "application/json",
        },
        body: "{}",
      }).then((r) => r.body?.cancel()).catch(() => {});
    }, cronMs)
    : undefined;

  return {
    url: publicUrl,
    dbUrl,
    keys,
    tripoUrl: tripo.url,
    openaiUrl: openai.url,
    processJobsSecret,
    outputsBucket,
    functions,
    functionEnv,
    async testEnv() {
      const { exportJWK } = await import("jose");
      const priv = await exportJWK(keys.es256PrivateKey);
      return {
        STACK_URL: publicUrl,
        STACK_ANON_KEY: keys.anonKey,
        STACK_SERVICE_ROLE_KEY: keys.serviceRoleKey,
        STACK_JWT_SECRET: keys.jwtSecret,
        STACK_JWKS: JSON.stringify(keys.jwks),
        STACK_ES256_PRIVATE_JWK: JSON.stringify({ ...priv, kid: keys.es256Kid, alg: "ES256" }),
        STACK_DB_URL: dbUrl,
        STACK_TRIPO_URL: tripo.url,
        STACK_OPENAI_URL: openai.url,
        STACK_PROCESS_JOBS_SECRET: processJobsSecret,
        STACK_OUTPUTS_BUCKET: outputsBucket,
      };
    },
    async stop() {
      if (cron) clearInterval(cron);
      await Promise.all([...functions.values()].map((f) => f.stop()));
      await Promise.all([
        gateway.server.shutdown(),
        tripo.server.shutdown(),
        openai.server.shutdown(),
      ]);
      await sql.end({ timeout: 5 });
    },
  };
}

if (import.meta.main) {
  const started = performance.now();
  const stack = await startStack({ port: Number(Deno.env.get("PORT") ?? 54321) });
  const secs = ((performance.now() - started) / 1000).toFixed(1);
  const simulated = !Deno.env.get("TRIPO_API_KEY") || !Deno.env.get("OPENAI_API_KEY");
  console.log(`
MakeIt3D BFF local stack is up (${secs} s)${simulated ? ", providers simulated" : ""}

  API URL          ${stack.url}
  Functions        ${stack.url}/functions/v1/<name>
  Database         ${stack.dbUrl}
  anon key         ${stack.keys.anonKey}
  service_role key ${stack.keys.serviceRoleKey}
  Tripo simulator  ${stack.tripoUrl}/v2/openapi   (control: ${stack.tripoUrl}/__sim/requests)
  OpenAI simulator ${stack.openaiUrl}/v1          (control: ${stack.openaiUrl}/__sim/requests)

Get a user token:
  curl -s ${stack.url}/auth/v1/signup -H "apikey: $ANON_KEY" -H 'content-type: application/json' \\
    -d '{"email":"me@example.com","password":"a-long-password"}' | jq -r .access_token
  (ANON_KEY is the anon key above; later, sign in with POST /auth/v1/token?grant_type=password)

Ctrl-C stops everything.`);
  const stop = async () => {
    console.error("\nstopping…");
    await stack.stop();
    Deno.exit(0);
  };
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
}
