// What the BFF accepts as an input (SPEC §3): only object URLs of this project's own Storage,
// read with the caller's token so Storage RLS decides (403 if the caller may not read it), with
// the type taken from the object's first bytes and its size checked. Request-side policy: every
// refusal is a clear 4xx from the error table.
import type { Config } from "../config.ts";
import { apiError } from "../errors.ts";
import { hasControlChars } from "../jobs/schemas.ts";
import type { ObjectRef, Storage } from "./adapter.ts";

export type AssetKind = "image" | "model";
export type InputContentType = "image/png" | "image/jpeg" | "image/webp" | "model/gltf-binary";

export interface ProbedInput extends ObjectRef {
  size: number;
  contentType: InputContentType;
}

/** Inputs the BFF reads at most this large (SPEC §3: size is checked). */
export const INPUT_LIMITS: Record<AssetKind, number> = {
  image: 20 * 1024 * 1024,
  model: 50 * 1024 * 1024,
};

const OBJECT_ROUTE = /^\/storage\/v1\/object\/(public|authenticated|sign)\/([^/]+)\/(.+)$/;
const BUCKET = /^[a-z0-9][a-z0-9._-]{1,62}$/;

/** Detects the file type from its first bytes (never from a name or a header). */
export function sniffType(bytes: Uint8Array): InputContentType | null {
  const b = bytes;
  const ascii = (from: number, to: number) => String.fromCharCode(...b.subarray(from, to));
  if (
    b.length >= 8 && b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47 &&
    b[4] === 0x0d && b[5] === 0x0a && b[6] === 0x1a && b[7] === 0x0a
  ) return "image/png";
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return "image/jpeg";
  if (b.length >= 12 && ascii(0, 4) === "RIFF" && ascii(8, 12) === "WEBP") return "image/webp";
  if (b.length >= 12 && ascii(0, 4) === "glTF" && b[4] === 2) return "model/gltf-binary";
  return null;
}

/**
 * Accepts only `…/storage/v1/object/{public|authenticated|sign}/<bucket>/<path>` on this
 * project's own origin. Everything else (other hosts, IP literals, credentials in the URL,
 * `file:`/`data:`, traversal segments, encoded slashes) is refused with 400.
 */
export function parseStorageUrl(raw: string, config: Config, field: string): ObjectRef {
  const refuse = (why: string) =>
    apiError("bad_request", `${field} must be a Storage URL of this project (${why}).`, {
      details: { field },
    });
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
  const decoded: string[] = [];
  for (const seg of m[3].split("/")) {
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

const ALLOWED: Record<AssetKind, InputContentType[]> = {
  image: ["image/png", "image/jpeg", "image/webp"],
  model: ["model/gltf-binary"],
};

/**
 * Reads the first bytes of an input with the caller's token: Storage RLS decides if the caller
 * may read it (403 if not), and the type and size come from the object itself.
 */
export async function probeInput(
  storage: Pick<Storage, "readHeadAsUser">,
  ref: ObjectRef,
  userToken: string,
  kind: AssetKind,
  field: string,
): Promise<ProbedInput> {
  let head: Awaited<ReturnType<Storage["readHeadAsUser"]>>;
  try {
    head = await storage.readHeadAsUser(ref, userToken);
  } catch {
    throw apiError("service_unavailable", "Storage is not reachable right now.");
  }
  if (head.status >= 500) throw apiError("upstream_error", "Storage could not read the input.");
  if (head.status !== 200 && head.status !== 206) {
    throw apiError(
      "asset_not_readable",
      `${field} does not exist or you are not allowed to read it.`,
      { details: { field } },
    );
  }
  const type = sniffType(head.head);
  if (!type || !ALLOWED[kind].includes(type)) {
    throw apiError(
      "unsupported_asset_type",
      kind === "image"
        ? `${field} must be a PNG, JPEG or WebP image.`
        : `${field} must be a GLB (binary glTF) model.`,
      { details: { field } },
    );
  }
  const limit = INPUT_LIMITS[kind];
  if (!Number.isFinite(head.size) || head.size > limit) {
    throw apiError("asset_too_large", `${field} is larger than ${limit >> 20} MB.`, {
      details: { field },
    });
  }
  return { ...ref, size: head.size, contentType: type };
}
