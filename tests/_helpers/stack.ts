// Coordinates of the running local stack, handed to tests through the environment by
// scripts/test.ts (which starts the stack once per run on a fresh database).
function need(name: string): string {
  const v = Deno.env.get(name);
  if (!v) throw new Error(`${name} is not set: run the tests through \`npm test\``);
  return v;
}

export const stack = {
  /** Gateway origin, e.g. http://127.0.0.1:54321 */
  get url(): string {
    return need("STACK_URL");
  },
  /** `current` (new API keys, ES256 user tokens) or `legacy` (JWT keys, HS256 tokens). */
  get project(): string {
    return need("STACK_PROJECT");
  },
  /** What apps ship (`sb_publishable_…`). */
  get publishableKey(): string {
    return need("STACK_PUBLISHABLE_KEY");
  },
  /** Servers only (`sb_secret_…`). */
  get secretKey(): string {
    return need("STACK_SECRET_KEY");
  },
  /** The key the project's services call process-jobs with (the secret key, or legacy JWT). */
  get serviceKey(): string {
    return need("STACK_SERVICE_KEY");
  },
  get anonKey(): string {
    return need("STACK_ANON_KEY");
  },
  get serviceRoleKey(): string {
    return need("STACK_SERVICE_ROLE_KEY");
  },
  get jwtSecret(): string {
    return need("STACK_JWT_SECRET");
  },
  /** Public JWKS JSON (ES256) the auth stand-in signs with when asked for asymmetric tokens. */
  get jwks(): string {
    return need("STACK_JWKS");
  },
  /** Private ES256 JWK (a throwaway per-run dev key) so tests can forge/issue asymmetric tokens. */
  get es256PrivateJwk(): string {
    return need("STACK_ES256_PRIVATE_JWK");
  },
  get dbUrl(): string {
    return need("STACK_DB_URL");
  },
  /** Tripo simulator origin; API base is `${tripoUrl}/v2/openapi`. */
  get tripoUrl(): string {
    return need("STACK_TRIPO_URL");
  },
  /** OpenAI simulator origin; API base is `${openaiUrl}/v1`. */
  get openaiUrl(): string {
    return need("STACK_OPENAI_URL");
  },
  get outputsBucket(): string {
    return Deno.env.get("STACK_OUTPUTS_BUCKET") ?? "generated-assets";
  },
};
