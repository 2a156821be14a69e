// The one place the environment is read. Validated with zod once, at start, so a missing or
// malformed setting stops the function at boot with its name rather than deep in a request.
//
// Supabase keys are read as the platform provisions them today (SPEC §6): the new API keys as
// JSON maps (`SUPABASE_PUBLISHABLE_KEYS`, `SUPABASE_SECRET_KEYS`, the `default` key used), their
// singular self-hosted forms, and only then the legacy JWT keys. User tokens are verified with
// `SUPABASE_JWKS`; the legacy HS256 secret is used only where one is configured.
import { z } from "zod";

const csv = z.string().optional().transform((v) =>
  (v ?? "").split(",").map((s) => s.trim().toLowerCase()).filter(Boolean)
);
const positiveInt = (fallback: number) => z.coerce.number().int().positive().default(fallback);
const optionalText = z.string().optional().transform((v) => v?.trim() || undefined);

/** A JSON object of named keys, e.g. `{"default":"sb_secret_…"}`. */
const keyMap = z.string().optional().transform((v, ctx) => {
  if (!v?.trim()) return undefined;
  try {
    const parsed: unknown = JSON.parse(v);
    if (parsed && typeof parsed === "object" && !Array.isArray(parsed)) {
      const entries = Object.entries(parsed).filter(([, k]) => typeof k === "string" && k);
      if (entries.length) return Object.fromEntries(entries) as Record<string, string>;
    }
  } catch { /* reported below */ }
  ctx.addIssue({ code: "custom", message: 'must be a JSON object of keys ({"default":"…"})' });
  return z.NEVER;
});

export interface JsonWebKeySet {
  keys: Record<string, unknown>[];
}

/** `{"keys":[…]}` or a bare array of JWKs, as the platform and @supabase/server accept. */
const jwks = z.string().optional().transform((v, ctx): JsonWebKeySet | undefined => {
  if (!v?.trim()) return undefined;
  try {
    const parsed: unknown = JSON.parse(v);
    const keys = Array.isArray(parsed) ? parsed : (parsed as { keys?: unknown })?.keys;
    if (Array.isArray(keys) && keys.length && keys.every((k) => k && typeof k === "object")) {
      return { keys: keys as Record<string, unknown>[] };
    }
  } catch { /* reported below */ }
  ctx.addIssue({ code: "custom", message: 'must be a JSON Web Key Set ({"keys":[…]})' });
  return z.NEVER;
});

const schema = z.object({
  SUPABASE_URL: z.url(),
  SUPABASE_PUBLISHABLE_KEYS: keyMap,
  SUPABASE_PUBLISHABLE_KEY: optionalText,
  SUPABASE_SECRET_KEYS: keyMap,
  SUPABASE_SECRET_KEY: optionalText,
  SUPABASE_JWKS: jwks,
  // Legacy fallbacks, used only when the new ones are absent.
  SUPABASE_ANON_KEY: optionalText,
  SUPABASE_SERVICE_ROLE_KEY: optionalText,
  SUPABASE_JWT_SECRET: z.string().min(32).optional(),
  /**
   * The same legacy secret under a name a project can set: the platform provisions no JWT
   * secret, and `supabase secrets set` refuses names starting with `SUPABASE_` (self-hosted
   * Supabase passes it to functions as JWT_SECRET too).
   */
  JWT_SECRET: z.string().min(32).optional(),
  SUPABASE_DB_URL: z.string().min(1),
  OPENAI_API_KEY: optionalText,
  OPENAI_BASE_URL: z.url().default("https://api.openai.com/v1"),
  TRIPO_API_KEY: optionalText,
  TRIPO_API_BASE_URL: z.url().default("https://api.tripo3d.ai/v2/openapi"),
  GENERATED_ASSETS_BUCKET: z.string().regex(/^[a-z0-9][a-z0-9._-]{1,62}$/).default(
    "generated-assets",
  ),
  /** Optional where the secret key is used: cron and nudges may send either. */
  PROCESS_JOBS_SECRET: z.string().min(16).optional(),
  TRIPO_MAX_CONCURRENCY: positiveInt(10),
  PROVIDER_ASSET_HOSTS: csv,
  RATE_LIMIT_IMAGE_PER_MINUTE: positiveInt(4),
  RATE_LIMIT_MODEL_PER_MINUTE: positiveInt(4),
  RATE_LIMIT_REFINE_PER_MINUTE: positiveInt(2),
  /** generate-convert-model; conversions chained by output_formats are not counted. */
  RATE_LIMIT_CONVERT_PER_MINUTE: positiveInt(12),
  USER_MAX_ACTIVE_JOBS: positiveInt(10),
  /** Credits a new user starts with (granted once, on their first call). */
  CREDITS_SIGNUP_GRANT: z.coerce.number().int().min(0).default(0),
  /**
   * Client connections per isolate to SUPABASE_DB_URL (the transaction pooler). A generation
   * request makes one round trip, so two cover an isolate's concurrent requests without
   * queueing for long; process-jobs runs up to 32 steps at once, each a few short round trips
   * between provider calls.
   */
  DB_POOL_SIZE: z.coerce.number().int().positive().optional(),
  /**
   * Under load, the wake-ups one isolate sends process-jobs after its enqueues are spaced this
   * far apart (jobs/nudge.ts); a lone enqueue's goes out at once.
   */
  NUDGE_MIN_GAP_MS: z.coerce.number().int().min(0).max(1000).default(25),
  /** Wall-clock budget of one process-jobs invocation (the Edge limit is 150 s). */
  PROCESS_JOBS_BUDGET_MS: positiveInt(40_000),
  /** A job not finished this long after it was accepted ends failed (SPEC §5: never stuck). */
  JOB_DEADLINE_SECONDS: positiveInt(3600),
  JOB_MAX_ATTEMPTS: positiveInt(8),
  /** Lease of a claimed job: how soon a crashed invocation's jobs are taken over. */
  JOB_LEASE_SECONDS: z.coerce.number().int().min(5).max(600).default(60),
  /**
   * Fault injection for the reliability suite only: a folder where a file named after a
   * failpoint (e.g. `after_submit`) makes process-jobs SIGKILL itself there, once. Unset in
   * every real deployment, where failpoints cost one branch.
   */
  FAILPOINT_DIR: optionalText,
  LOG_LEVEL: z.enum(["debug", "info", "warn", "error"]).default("info"),
});

type Parsed = z.infer<typeof schema>;

export interface Config extends Parsed {
  /** The publishable (or legacy anon) key: the `apikey` of calls made with a user's token. */
  publishableKey: string;
  /** The secret (or legacy service_role) key, where the platform provides one. */
  secretKey: string | undefined;
  /** The legacy HS256 secret of user tokens (SUPABASE_JWT_SECRET, else JWT_SECRET), if any. */
  legacyJwtSecret: string | undefined;
  dbPoolSize: number;
}

export class ConfigError extends Error {}

/** What a function needs beyond the common settings; checked at boot. */
export interface ConfigNeeds {
  /** Verifies user tokens: a JWKS or the legacy JWT secret. */
  userTokens?: boolean;
  /** Acts as the service (writes Storage): the secret key. */
  secretKey?: boolean;
  /** Calls the AI providers: their API keys. */
  providers?: boolean;
}

const pickKey = (map: Record<string, string> | undefined) =>
  map ? map.default ?? Object.values(map)[0] : undefined;

export function loadConfig(
  env: Record<string, string | undefined> = Deno.env.toObject(),
  needs: ConfigNeeds = {},
): Config {
  const result = schema.safeParse(env);
  if (!result.success) {
    const problems = result.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`);
    throw new ConfigError(`invalid configuration:\n  ${problems.join("\n  ")}`);
  }
  const e = result.data;
  const problems: string[] = [];
  const publishableKey = pickKey(e.SUPABASE_PUBLISHABLE_KEYS) ?? e.SUPABASE_PUBLISHABLE_KEY ??
    e.SUPABASE_ANON_KEY;
  const secretKey = pickKey(e.SUPABASE_SECRET_KEYS) ?? e.SUPABASE_SECRET_KEY ??
    e.SUPABASE_SERVICE_ROLE_KEY;
  if (!publishableKey) {
    problems.push("SUPABASE_PUBLISHABLE_KEYS: required (or SUPABASE_PUBLISHABLE_KEY)");
  }
  const legacyJwtSecret = e.SUPABASE_JWT_SECRET ?? e.JWT_SECRET;
  if (needs.userTokens && !e.SUPABASE_JWKS && !legacyJwtSecret) {
    problems.push(
      "SUPABASE_JWKS: required to verify user tokens (or the legacy JWT secret as JWT_SECRET)",
    );
  }
  if (needs.secretKey && !secretKey) {
    problems.push("SUPABASE_SECRET_KEYS: required (or SUPABASE_SECRET_KEY)");
  }
  if (needs.providers) {
    if (!e.TRIPO_API_KEY) problems.push("TRIPO_API_KEY: required");
    if (!e.OPENAI_API_KEY) problems.push("OPENAI_API_KEY: required");
  }
  if (problems.length) {
    throw new ConfigError(`invalid configuration:\n  ${problems.join("\n  ")}`);
  }
  return {
    ...e,
    publishableKey: publishableKey!,
    secretKey,
    legacyJwtSecret,
    dbPoolSize: e.DB_POOL_SIZE ?? (needs.providers ? 4 : 2),
  };
}
