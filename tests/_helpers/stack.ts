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
  get processJobsSecret(): string {
    return need("STACK_PROCESS_JOBS_SECRET");
  },
  get outputsBucket(): string {
    return Deno.env.get("STACK_OUTPUTS_BUCKET") ?? "generated-assets";
  },
};
