// The environment a function gets: exactly what the platform provisions (SPEC §6) plus the
// project's secrets. A project on today's platform gets the new API keys as JSON maps and the
// JWKS, and nothing legacy; a legacy project (JWT keys, HS256 user tokens) gets the legacy keys
// and the JWT secret its operator set, as the secret JWT_SECRET: the platform provisions no JWT
// secret, and a project secret may not be named SUPABASE_…. Functions must work with either,
// needing nothing else.
import type { StackKeys } from "./keys.ts";

export type ProjectKind = "current" | "legacy";

/** The keys a function's environment carries. */
export type EnvKeys = Pick<
  StackKeys,
  "jwtSecret" | "publishableKey" | "secretKey" | "anonKey" | "serviceRoleKey" | "jwks"
>;

export function platformEnv(kind: ProjectKind, p: {
  url: string;
  keys: EnvKeys;
  dbUrl: string;
}): Record<string, string> {
  const common = { SUPABASE_URL: p.url, SUPABASE_DB_URL: p.dbUrl };
  if (kind === "legacy") {
    return {
      ...common,
      SUPABASE_ANON_KEY: p.keys.anonKey,
      SUPABASE_SERVICE_ROLE_KEY: p.keys.serviceRoleKey,
      JWT_SECRET: p.keys.jwtSecret,
    };
  }
  return {
    ...common,
    SUPABASE_PUBLISHABLE_KEYS: JSON.stringify({ default: p.keys.publishableKey }),
    SUPABASE_SECRET_KEYS: JSON.stringify({ default: p.keys.secretKey }),
    SUPABASE_JWKS: JSON.stringify(p.keys.jwks),
  };
}

/** The project's own settings a harness may pass through from its environment (SPEC §6). */
export const PASSED_THROUGH = [
  "GENERATED_ASSETS_BUCKET",
  "PROCESS_JOBS_SECRET",
  "TRIPO_MAX_CONCURRENCY",
  "PROVIDER_ASSET_HOSTS",
  "RATE_LIMIT_IMAGE_PER_MINUTE",
  "RATE_LIMIT_MODEL_PER_MINUTE",
  "RATE_LIMIT_REFINE_PER_MINUTE",
  "USER_MAX_ACTIVE_JOBS",
  "LOG_LEVEL",
] as const;
