// Supabase Storage, spoken over its REST API. Inputs are only ever this project's Storage
// objects, read with the *caller's* JWT so Storage RLS decides; outputs are written by the BFF
// (service role) as streams, never buffered whole.
import type { Config } from "./config.ts";
import { ApiError, badRequest } from "./errors.ts";
import { hasControlChars } from "./validation.ts";

export interface ObjectRef {
  bucket: string;
  path: string;
}

export type AssetKind = "image" | "model";

export interface ProbedInput extends ObjectRef {
  size: number;
  contentType: "image/png" | "image/jpeg" | "image/webp" | "model/gltf-binary";
}

export const MAX_IMAGE_BYTES = 20 * 1024 * 1024;
export const MAX_MODEL_BYTES = 50 * 1024 * 1024;

const OBJECT_ROUTE = /^\/storage\/v1\/object\/(public|authenticated|sign)\/([^/]+)\/(.+)$/;
const BUCKET = /^[a-z0-9][a-z0-9._-]{1,62}$/;

/** Detects the file type from its first bytes (never from a name or a header). */
export function sniffType(bytes: Uint8Array): ProbedInput["contentType"] | null {
  const b = bytes;
  if (
    b.length >= 8 && b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47 &&
    b[4] === 0x0d && b[5] === 0x0a && b[6] === 0x1a && b[7] === 0x0a
  ) return "image/png";
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return "image/jpeg";
  if (
    b.length >= 12 && String.fromCharCode(...b.subarray(0, 4)) === "RIFF" &&
    String.fromCharCode(...b.subarray(8, 12)) === "WEBP"
  ) return "image/webp";
  if (b.length >= 12 && String.fromCharCode(...b.subarray(0, 4)) === "glTF" && b[4] === 2) {
    return "model/gltf-binary";
  }
  return null;
}

/**
 * Accepts only `…/storage/v1/object/{public|authenticated|sign}/<bucket>/<path>` on this
 * project's own origin. Everything else (other hosts, IP literals, credentials in the URL,
 * `file:`/`data:`, traversal segments, encoded slashes) is refused with 400.
 */
export function parseStorageUrl(raw: string, config: Config, field: string): ObjectRef {
  const refuse = (why: string) =>
    badRequest(`${field} must be a Storage URL of this project (${why}).`, { field });
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw refuse("not a URL");
  }
  const own = new URL(config.SUPABASE_URL);
  if (url.protocol !== own.protocol) throw refuse("wrong scheme");
  if (url.username || url.password) throw refuse("credentials are not allowed");
  if (url.host !== own.host) throw refuse("wrong host");
  if (url.hash) throw refuse("fragments are not allowed");
  const m = url.pathname.match(OBJECT_ROUTE);
  if (!m) throw refuse("not an object URL");
  const bucket = m[2];
  if (!BUCKET.test(bucket)) throw refuse("bad bucket name");
  const segments = m[3].split("/");
  const decoded: string[] = [];
  for (const seg of segments) {
    let d: string;
    try {
      d = decodeURIComponent(seg);
    } catch {
      throw refuse("bad path encoding");
    }
    if (!d || d === "." || d === ".." || /[\/\\\t\n\r]/.test(d) || hasControlChars(d)) {
      throw refuse("bad path segment");
    }
    decoded.push(d);
  }
  const path = decoded.join("/");
  if (path.length > 1024) throw refuse("path too long");
  return { bucket, path };
}

function objectPath(ref: ObjectRef): string {
  return `${ref.bucket}/${ref.path.split("/").map(encodeURIComponent).join("/")}`;
}

export function createStorage(config: Config) {
  const base = `${config.SUPABASE_URL.replace(/\/$/, "")}/storage/v1`;
  const serviceHeaders = {
    apikey: config.SUPABASE_SERVICE_ROLE_KEY,
    authorization: `Bearer ${config.SUPABASE_SERVICE_ROLE_KEY}`,
  };

  /** The permanent (non-expiring, auth-required) URL stored in rows. */
  function authenticatedUrl(ref: ObjectRef): string {
    return `${base}/object/authenticated/${objectPath(ref)}`;
  }

  return {
    authenticatedUrl,

    /**
     * Reads the first bytes of an input with the caller's token: Storage RLS decides if the
     * caller may read it (403 if not), and the type and size come from the object itself.
     */
    async probeInput(ref: ObjectRef, userToken: string, kind: AssetKind, field: string) {
      let res: Response;
      try {
        res = await fetch(`${base}/object/authenticated/${objectPath(ref)}`, {
          headers: {
            apikey: config.SUPABASE_ANON_KEY,
            authorization: `Bearer ${userToken}`,
            range: "bytes=0-31",
          },
          redirect: "manual",
          signal: AbortSignal.timeout(10_000),
        });
      } catch {
        throw new ApiError(503, "service_unavailable", "Storage is not reachable right now.");
      }
      if (res.status !== 200 && res.status !== 206) {
        await res.body?.cancel();
        if (res.status >= 500) {
          throw new ApiError(502, "upstream_error", "Storage could not read the input.");
        }
        throw new ApiError(
          403,
          "asset_not_readable",
          `${field} does not exist or you are not allowed to read it.`,
          { field },
        );
      }
      const head = new Uint8Array(await res.arrayBuffer()).subarray(0, 32);
      const range = res.headers.get("content-range")?.match(/\/(\d+)$/);
      const size = Number(range ? range[1] : res.headers.get("content-length") ?? head.length);
      const type = sniffType(head);
      const allowed = kind === "image"
        ? ["image/png", "image/jpeg", "image/webp"]
        : ["model/gltf-binary"];
      if (!type || !allowed.includes(type)) {
        throw new ApiError(
          415,
          "unsupported_asset_type",
          kind === "image"
            ? `${field} must be a PNG, JPEG or WebP image.`
            : `${field} must be a GLB (binary glTF) model.`,
          { field },
        );
      }
      const limit = kind === "image" ? MAX_IMAGE_BYTES : MAX_MODEL_BYTES;
      if (!Number.isFinite(size) || size > limit) {
        throw new ApiError(413, "asset_too_large", `${field} is larger than ${limit >> 20} MB.`, {
          field,
        });
      }
      return { ...ref, size, contentType: type } as ProbedInput;
    },

    /** Downloads an object as the BFF (after the caller's right to it was checked at enqueue). */
    async download(ref: ObjectRef, signal?: AbortSignal): Promise<Response> {
      const res = await fetch(`${base}/object/authenticated/${objectPath(ref)}`, {
        headers: serviceHeaders,
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
          ...serviceHeaders,
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

    async exists(ref: ObjectRef): Promise<boolean> {
      const res = await fetch(`${base}/object/info/${objectPath(ref)}`, {
        headers: serviceHeaders,
      });
      await res.body?.cancel();
      return res.ok;
    },

    /** Mints fresh signed URLs with the caller's token (so RLS must allow the read). */
    async signUrls(refs: ObjectRef[], userToken: string, expiresIn = 3600): Promise<string[]> {
      if (refs.length === 0) return [];
      const bucket = refs[0].bucket;
      const res = await fetch(`${base}/object/sign/${bucket}`, {
        method: "POST",
        headers: {
          apikey: config.SUPABASE_ANON_KEY,
          authorization: `Bearer ${userToken}`,
          "content-type": "application/json",
        },
        body: JSON.stringify({ expiresIn, paths: refs.map((r) => r.path) }),
        signal: AbortSignal.timeout(10_000),
      });
      if (!res.ok) {
        await res.body?.cancel();
        throw new ApiError(502, "upstream_error", "Could not create download links right now.");
      }
      const items = await res.json() as { signedURL?: string | null; error?: string | null }[];
      return items.map((it) => {
        if (!it.signedURL) {
          throw new ApiError(502, "upstream_error", "Could not create download links right now.");
        }
        return `${base}${it.signedURL}`;
      });
    },
  };
}

export class StorageError extends Error {
  constructor(message: string, readonly status: number) {
    super(message);
    this.name = "StorageError";
  }
}

export type Storage = ReturnType<typeof createStorage>;
