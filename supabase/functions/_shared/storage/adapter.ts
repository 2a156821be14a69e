// Supabase Storage, spoken over its REST API (the subset storage-js uses). Calls made for a user
// carry the user's token and the publishable key, so Storage RLS decides; the BFF's own writes
// carry the secret key. Bodies are streamed, never buffered whole. This module knows the wire
// format only: what the BFF accepts as an input is storage/inputs.ts.
import type { Config } from "../config.ts";

export interface ObjectRef {
  bucket: string;
  path: string;
}

export class StorageError extends Error {
  constructor(message: string, readonly status: number) {
    super(message);
    this.name = "StorageError";
  }
}

function objectPath(ref: ObjectRef): string {
  return `${ref.bucket}/${ref.path.split("/").map(encodeURIComponent).join("/")}`;
}

export function createStorage(config: Config) {
  const base = `${config.SUPABASE_URL.replace(/\/$/, "")}/storage/v1`;
  // The secret key (or the legacy service_role JWT): the platform's gateway turns an `sb_…`
  // key into a service-role JWT for Storage, as supabase-js relies on.
  const serviceHeaders = (): Record<string, string> => {
    if (!config.secretKey) throw new StorageError("no secret key is configured", 500);
    return { apikey: config.secretKey, authorization: `Bearer ${config.secretKey}` };
  };
  const userHeaders = (userToken: string) => ({
    apikey: config.publishableKey,
    authorization: `Bearer ${userToken}`,
  });

  return {
    /** The permanent (non-expiring, auth-required) URL stored in rows. */
    authenticatedUrl(ref: ObjectRef): string {
      return `${base}/object/authenticated/${objectPath(ref)}`;
    },

    /**
     * The first `bytes` bytes of an object and its total size, read with the user's token.
     * Answers the HTTP status instead of throwing for a refusal, so the caller decides.
     */
    async readHeadAsUser(
      ref: ObjectRef,
      userToken: string,
      bytes = 32,
    ): Promise<{ status: number; head: Uint8Array; size: number }> {
      const res = await fetch(`${base}/object/authenticated/${objectPath(ref)}`, {
        headers: { ...userHeaders(userToken), range: `bytes=0-${bytes - 1}` },
        redirect: "manual",
        signal: AbortSignal.timeout(10_000),
      });
      if (res.status !== 200 && res.status !== 206) {
        await res.body?.cancel();
        return { status: res.status, head: new Uint8Array(0), size: 0 };
      }
      const head = new Uint8Array(await res.arrayBuffer()).subarray(0, bytes);
      const range = res.headers.get("content-range")?.match(/\/(\d+)$/);
      const size = Number(range ? range[1] : res.headers.get("content-length") ?? head.length);
      return { status: res.status, head, size };
    },

    /** Downloads an object as the BFF (after the caller's right to it was checked at enqueue). */
    async download(ref: ObjectRef, signal?: AbortSignal): Promise<Response> {
      const res = await fetch(`${base}/object/authenticated/${objectPath(ref)}`, {
        headers: serviceHeaders(),
        signal,
      });
      if (!res.ok) {
        await res.body?.cancel();
        throw new StorageError(`download failed with ${res.status}`, res.status);
      }
      return res;
    },

    /** Streams `body` into `ref` (upsert: a retried step rewrites its own object). */
    async upload(
      ref: ObjectRef,
      body: ReadableStream<Uint8Array> | Uint8Array,
      contentType: string,
      signal?: AbortSignal,
    ): Promise<void> {
      const res = await fetch(`${base}/object/${objectPath(ref)}`, {
        method: "POST",
        headers: {
          ...serviceHeaders(),
          "content-type": contentType,
          "x-upsert": "true",
          "cache-control": "max-age=3600",
        },
        body: body as BodyInit,
        signal,
      });
      await res.body?.cancel();
      if (!res.ok) throw new StorageError(`upload failed with ${res.status}`, res.status);
    },

    async exists(ref: ObjectRef, signal?: AbortSignal): Promise<boolean> {
      const res = await fetch(`${base}/object/info/${objectPath(ref)}`, {
        headers: serviceHeaders(),
        signal,
      });
      await res.body?.cancel();
      return res.ok;
    },

    /** Mints fresh signed URLs with the caller's token (so RLS must allow the read). */
    async signUrlsAsUser(
      refs: ObjectRef[],
      userToken: string,
      expiresIn = 3600,
    ): Promise<string[]> {
      if (refs.length === 0) return [];
      const res = await fetch(`${base}/object/sign/${refs[0].bucket}`, {
        method: "POST",
        headers: { ...userHeaders(userToken), "content-type": "application/json" },
        body: JSON.stringify({ expiresIn, paths: refs.map((r) => r.path) }),
        signal: AbortSignal.timeout(10_000),
      });
      if (!res.ok) {
        await res.body?.cancel();
        throw new StorageError(`sign failed with ${res.status}`, res.status);
      }
      const items = await res.json() as { signedURL?: string | null }[];
      return items.map((it) => {
        if (!it.signedURL) throw new StorageError("sign returned no URL", 502);
        return `${base}${it.signedURL}`;
      });
    },
  };
}

export type Storage = ReturnType<typeof createStorage>;
