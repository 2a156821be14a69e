// What every part of the Storage stand-in shares: its options, resolved once per handler.
import type postgres from "postgres";
import type { StackKeys } from "../keys.ts";
import { BlobStore } from "./blobs.ts";

export interface StorageHandlerOptions {
  /** Pool connected as the superuser `postgres` to the stack database (one statement a query). */
  sql: postgres.Sql;
  keys: StackKeys;
  /** Per-run folder for object bytes. */
  dataDir: string;
  /** e.g. http://127.0.0.1:54321 */
  publicUrl: string;
  /** Global upload limit in bytes (default 5 GiB, the standard-upload maximum). */
  fileSizeLimit?: number;
  /** Lifetime of signed upload URLs in seconds (default 7200, as Supabase). */
  signedUploadUrlExpiry?: number;
}

export interface StorageContext {
  sql: postgres.Sql;
  keys: StackKeys;
  blobs: BlobStore;
  /** Upload limit in bytes when the bucket sets none (or a larger one). */
  globalLimit: number;
  /** Signed upload URL lifetime in seconds. */
  uploadExpiry: number;
  /** HS256 key of signed URLs (the JWT secret, as Supabase Storage uses). */
  urlSecret: Uint8Array;
}

const DEFAULT_LIMIT = 5 * 1024 ** 3;

export function createContext(opts: StorageHandlerOptions): StorageContext {
  return {
    sql: opts.sql,
    keys: opts.keys,
    blobs: new BlobStore(opts.dataDir),
    globalLimit: opts.fileSizeLimit ?? DEFAULT_LIMIT,
    uploadExpiry: opts.signedUploadUrlExpiry ?? 7200,
    urlSecret: new TextEncoder().encode(opts.keys.jwtSecret),
  };
}
