// The setup shared by the Storage stand-in's tests through supabase-js (storage-js):
// storage_uploads_acl, storage_urls, storage_listing_ranges and storage_buckets_limits. Clients
// for the service role, anon and a signed-in user, the test PNG, test buckets created with the
// service role, and the check of Storage's error shape.
import assert from "node:assert/strict";
import { createClient, type SupabaseClient } from "@supabase/supabase-js";
import { stack } from "../_helpers/stack.ts";

export const opts = {
  auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
};
export const INPUT = "input-assets";
export const OUTPUT = stack.outputsBucket;
export const PNG = new Uint8Array([
  0x89,
  0x50,
  0x4e,
  0x47,
  0x0d,
  0x0a,
  0x1a,
  0x0a,
  1,
  2,
  3,
  4,
  5,
  6,
  7,
  8,
]);

export const service = (): SupabaseClient => createClient(stack.url, stack.serviceRoleKey, opts);
export const anon = (): SupabaseClient => createClient(stack.url, stack.anonKey, opts);

export interface TestUser {
  id: string;
  client: SupabaseClient;
  token: string;
}

export async function user(): Promise<TestUser> {
  const email = `storage-${crypto.randomUUID()}@example.com`;
  const password = "storage-test-password";
  const created = await service().auth.admin.createUser({ email, password, email_confirm: true });
  assert.equal(created.error, null);
  const client = createClient(stack.url, stack.anonKey, opts);
  const { data, error } = await client.auth.signInWithPassword({ email, password });
  assert.equal(error, null);
  return { id: data.user!.id, client, token: data.session!.access_token };
}

/** Asserts a storage-js error: HTTP status and the body's statusCode / code / error. */
export function assertStorageError(
  error: unknown,
  want: { status: number; statusCode: string; code?: string; message?: string | RegExp },
): void {
  assert.ok(error, "expected an error");
  const e = error as { status: number; statusCode: string; code?: string; message: string };
  assert.equal(e.status, want.status);
  assert.equal(e.statusCode, want.statusCode);
  if (want.code) assert.equal(e.code, want.code);
  if (typeof want.message === "string") assert.equal(e.message, want.message);
  if (want.message instanceof RegExp) assert.match(e.message, want.message);
}

export async function bytesOf(blob: Blob | null): Promise<Uint8Array> {
  assert.ok(blob);
  return new Uint8Array(await blob.arrayBuffer());
}

export async function testBucket(
  options: { public: boolean; fileSizeLimit?: string | number; allowedMimeTypes?: string[] },
): Promise<string> {
  const id = `ls-test-${crypto.randomUUID().slice(0, 8)}`;
  const { error } = await service().storage.createBucket(id, options);
  assert.equal(error, null);
  return id;
}
