// The Hono context every function's handlers share: what the middleware has established.
import type { Config } from "./config.ts";

export interface AuthUser {
  id: string;
  /** The raw bearer token, forwarded to Storage so its RLS decides what the user may read. */
  token: string;
  email?: string;
  /** Supabase Auth's `app_metadata` claim (set only with the secret key). */
  appMetadata: Record<string, unknown>;
}

export interface AppEnv {
  Variables: {
    requestId: string;
    config: Config;
    user: AuthUser;
  };
}
