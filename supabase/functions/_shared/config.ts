// The one place the environment is read. Validated with zod once, at start, so a missing or
// malformed setting stops the function at boot with its name rather than deep in a request.
import { z } from "zod";

const csv = z.string().optional().transform((v) =>
  (v ?? "").split(",").map((s) => s.trim().toLowerCase()).filter(Boolean)
);
const positiveInt = (fallback: number) => z.coerce.number().int().positive().default(fallback);

const schema = z.object({
  SUPABASE_URL: z.url(),
  SUPABASE_ANON_KEY: z.string().min(1),
  SUPABASE_SERVICE_ROLE_KEY: z.string().min(1),
  SUPABASE_DB_URL: z.string().min(1),
  SUPABASE_JWT_SECRET: z.string().min(32).optional(),
  SUPABASE_JWKS: z.string().optional().transform((v, ctx) => {
    if (!v) return undefined;
    try {
      const parsed = JSON.parse(v);
      if (!Array.isArray(parsed?.keys)) throw new Error("no keys array");
      return parsed as { keys: Record<string, unknown>[] };
    } catch {
      ctx.addIssue({ code: "custom", message: 'must be a JSON Web Key Set ({"keys":[…]})' });
      return z.NEVER;
    }
  }),
  OPENAI_API_KEY: z.string().min(1).optional(),
  OPENAI_BASE_URL: z.url().default("https://api.openai.com/v1"),
  TRIPO_API_KEY: z.string().min(1).optional(),
  TRIPO_API_BASE_URL: z.url().default("https://api.tripo3d.ai/v2/openapi"),
  GENERATED_ASSETS_BUCKET: z.string().regex(/^[a-z0-9][a-z0-9._-]{1,62}$/).default(
    "generated-assets",
  ),
  PROCESS_JOBS_SECRET: z.string().min(16),
  TRIPO_MAX_CONCURRENCY: positiveInt(10),
  PROVIDER_ASSET_HOSTS: csv,
  RATE_LIMIT_IMAGE_PER_MINUTE: positiveInt(4),
  RATE_LIMIT_MODEL_PER_MINUTE: positiveInt(4),
  RATE_LIMIT_REFINE_PER_MINUTE: positiveInt(2),
  USER_MAX_ACTIVE_JOBS: positiveInt(10),
  DB_POOL_SIZE: positiveInt(4),
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
  FAILPOINT_DIR: z.string().optional(),
  LOG_LEVEL: z.enum(["debug", "info", "warn", "error"]).default("info"),
});

export type Config = z.infer<typeof schema> & { providersConfigured: boolean };

export class ConfigError extends Error {}

/**
 * Parses the environment. `needProviders` is set by process-jobs, the only function that
 * talks to the AI providers, so the keys are required there and nowhere else.
 */
export function loadConfig(
  env: Record<string, string | undefined> = Deno.env.toObject(),
  opts: { needProviders?: boolean } = {},
): Config {
  const result = schema.safeParse(env);
  const problems: string[] = [];
  if (!result.success) {
    for (const issue of result.error.issues) {
      problems.push(`${issue.path.join(".")}: ${issue.message}`);
    }
  } else {
    if (!result.data.SUPABASE_JWT_SECRET && !result.data.SUPABASE_JWKS) {
      problems.push("SUPABASE_JWT_SECRET or SUPABASE_JWKS: one of them is required");
    }
    if (opts.needProviders) {
      if (!result.data.TRIPO_API_KEY) problems.push("TRIPO_API_KEY: required");
      if (!result.data.OPENAI_API_KEY) problems.push("OPENAI_API_KEY: required");
    }
  }
  if (problems.length || !result.success) {
    throw new ConfigError(`invalid configuration:\n  ${problems.join("\n  ")}`);
  }
  return {
    ...result.data,
    providersConfigured: Boolean(result.data.TRIPO_API_KEY && result.data.OPENAI_API_KEY),
  };
}
