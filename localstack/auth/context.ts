// What every part of the Auth stand-in shares: its options, resolved once per handler.
import type postgres from "postgres";
import type { StackKeys } from "../keys.ts";

export interface AuthHandlerOptions {
  /** Pool connected as the superuser `postgres` to the stack database (one statement a query). */
  sql: postgres.Sql;
  keys: StackKeys;
  /** e.g. http://127.0.0.1:54321 */
  publicUrl: string;
  /** Access-token lifetime in seconds; default $GOTRUE_JWT_EXP or 3600. */
  jwtExpiry?: number;
  /** Minimum password length (Supabase default 6). */
  minPasswordLength?: number;
}

export interface AuthContext {
  sql: postgres.Sql;
  keys: StackKeys;
  publicUrl: string;
  /** Access-token lifetime in seconds. */
  expiry: number;
  minPassword: number;
}

function envNumber(name: string): number | undefined {
  try {
    const v = Deno.env.get(name);
    return v && Number.isFinite(Number(v)) ? Number(v) : undefined;
  } catch {
    return undefined; // no env permission: defaults apply
  }
}

export function createContext(opts: AuthHandlerOptions): AuthContext {
  return {
    sql: opts.sql,
    keys: opts.keys,
    publicUrl: opts.publicUrl,
    expiry: opts.jwtExpiry ?? envNumber("GOTRUE_JWT_EXP") ?? 3600,
    minPassword: opts.minPasswordLength ?? 6,
  };
}
