// Fetching provider outputs safely and moving them into Storage as a stream.
// Only allow-listed hosts are fetched (SPEC §3): the provider's API host, its documented asset
// hosts, and PROVIDER_ASSET_HOSTS. Redirects are followed by hand so each hop is checked.
import type { Config } from "../config.ts";

/** Documented Tripo/OpenAI asset hosts (https only), matched as the host or a subdomain. */
const PROVIDER_ASSET_DOMAINS = ["tripo3d.ai", "tripo3d.com", "tripo3d.net", "oaiusercontent.com"];

export class AssetError extends Error {
  constructor(message: string, readonly transient: boolean) {
    super(message);
    this.name = "AssetError";
  }
}

function isIpLiteral(host: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(host) || host.startsWith("[") || /^\d+$/.test(host);
}

/** Whether `raw` may be fetched as a provider output. */
export function isAllowedAssetUrl(raw: string, config: Config): boolean {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return false;
  }
  if (url.username || url.password) return false;
  if (url.protocol !== "https:" && url.protocol !== "http:") return false;
  const hostPort = url.host.toLowerCase(); // includes a non-default port
  const host = url.hostname.toLowerCase();
  // Explicitly configured hosts (host or host:port) are trusted as given, http or https.
  if (
    config.PROVIDER_ASSET_HOSTS.includes(hostPort) || config.PROVIDER_ASSET_HOSTS.includes(host)
  ) {
    return true;
  }
  if (url.protocol !== "https:") return false;
  if (isIpLiteral(host) || host === "localhost" || host.endsWith(".localhost")) return false;
  for (const base of [config.TRIPO_API_BASE_URL, config.OPENAI_BASE_URL]) {
    const b = new URL(base);
    if (b.protocol === "https:" && b.host.toLowerCase() === hostPort) return true;
  }
  return PROVIDER_ASSET_DOMAINS.some((d) => host === d || host.endsWith(`.${d}`));
}

/** GET an allow-listed URL, following at most 3 redirects that stay on the allow-list. */
export async function fetchAsset(
  raw: string,
  config: Config,
  signal: AbortSignal,
): Promise<Response> {
  let url = raw;
  for (let hop = 0; hop <= 3; hop++) {
    if (!isAllowedAssetUrl(url, config)) {
      throw new AssetError("the provider returned an output URL outside the allow-list", false);
    }
    let res: Response;
    try {
      res = await fetch(url, { redirect: "manual", signal });
    } catch (e) {
      if (signal.aborted) throw e;
      throw new AssetError("could not reach the provider's file host", true);
    }
    if (res.status >= 300 && res.status < 400) {
      const loc = res.headers.get("location");
      await res.body?.cancel();
      if (!loc) throw new AssetError("redirect without a location", false);
      url = new URL(loc, url).toString();
      continue;
    }
    if (!res.ok || !res.body) {
      await res.body?.cancel();
      // 403/404/410 usually mean the short-lived output URL expired: fetch the task again.
      throw new AssetError(`the provider's file host answered ${res.status}`, true);
    }
    return res;
  }
  throw new AssetError("too many redirects", false);
}

/** An output file type: what it is stored as and how its bytes must look. */
export interface OutputType {
  contentType: string;
  extension: string;
  /** Bytes needed before `matches` can decide. */
  headBytes: number;
  matches(head: Uint8Array): boolean;
  /** A check of the whole file's layout at its end: the first and last bytes and its length. */
  complete?(head: Uint8Array, tail: Uint8Array, length: number): boolean;
}

const bytesOf = (s: string) => [...s].map((c) => c.charCodeAt(0));
const startsWith = (b: Uint8Array, sig: number[], at = 0) =>
  b.length >= at + sig.length && sig.every((v, i) => b[at + i] === v);
const ascii = (b: Uint8Array) => String.fromCharCode(...b);

/** A ZIP's first local file header ("PK\x03\x04"). */
const ZIP = [0x50, 0x4b, 0x03, 0x04];
/** A ZIP ends with its end-of-central-directory record ("PK\x05\x06") in the last 22+ bytes. */
const zipEnds = (tail: Uint8Array) => ascii(tail).includes("PK\x05\x06");
/** The first entry's name of a ZIP whose head holds it. */
function firstZipEntry(head: Uint8Array): string | null {
  if (head.length < 30) return null;
  const len = head[26] | (head[27] << 8);
  return head.length >= 30 + len ? ascii(head.subarray(30, 30 + len)) : null;
}
function zipType(contentType: string, extension: string, first?: RegExp): OutputType {
  return {
    contentType,
    extension,
    // Enough for the first entry's name, when it matters.
    headBytes: first ? 64 : 4,
    matches: (b) => {
      if (!startsWith(b, ZIP)) return false;
      const name = first ? firstZipEntry(b) : null;
      return !first || name === null || first.test(name);
    },
    complete: (_h, tail) => zipEnds(tail),
  };
}
/** Binary FBX: "Kaydara FBX Binary  \0\x1a\0", then the version. */
const FBX = [...bytesOf("Kaydara FBX Binary  "), 0x00, 0x1a, 0x00];

export const OUTPUT_TYPES = {
  glb: {
    contentType: "model/gltf-binary",
    extension: "glb",
    headBytes: 12,
    // "glTF", container version 2.
    matches: (b) => b[0] === 0x67 && b[1] === 0x6c && b[2] === 0x54 && b[3] === 0x46 && b[4] === 2,
  },
  png: {
    contentType: "image/png",
    extension: "png",
    headBytes: 8,
    matches: (b) => startsWith(b, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
  },
  // Conversions (Tripo convert_model). USDZ: a ZIP whose first entry is the USD layer.
  USDZ: zipType("model/vnd.usdz+zip", "usdz", /\.usd[ac]?$/i),
  "3MF": zipType("model/3mf", "3mf"),
  // glTF and OBJ come packaged with their buffers, materials and textures.
  GLTF: zipType("application/zip", "gltf.zip"),
  OBJ: zipType("application/zip", "obj.zip"),
  FBX: {
    contentType: "application/octet-stream",
    extension: "fbx",
    headBytes: FBX.length + 4,
    matches: (b) => startsWith(b, FBX),
  },
  // Binary STL: an 80-byte header, a triangle count, 50 bytes per triangle, nothing else. A
  // text STL (rare) is "solid … endsolid".
  STL: {
    contentType: "model/stl",
    extension: "stl",
    headBytes: 84,
    matches: () => true,
    complete: (head, tail, length) => {
      const n = new DataView(head.buffer, head.byteOffset, head.byteLength).getUint32(80, true);
      if (n > 0 && length === 84 + 50 * n) return true;
      return ascii(head.subarray(0, 6)) === "solid " && ascii(tail).includes("endsolid");
    },
  },
} satisfies Record<string, OutputType>;

const HEAD_KEEP = 256;
const TAIL_KEEP = 128;

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/**
 * Passes bytes through while checking them: the file type from the first bytes (and, for
 * formats whose layout shows only at the end, the whole file at its end), the total against
 * Content-Length (a truncated download must fail, not become a short object), and a size cap.
 * Any failure errors the stream, which aborts the Storage upload it feeds.
 */
export function verifyingStream(
  type: OutputType,
  expectedLength: number | null,
  maxBytes: number,
  /** Told the verdict: the upload the stream feeds fails with an error of its own. */
  onRefused: (e: AssetError) => void = () => {},
): TransformStream<Uint8Array, Uint8Array> {
  let seen = 0;
  let head: Uint8Array = new Uint8Array(0);
  let tail: Uint8Array = new Uint8Array(0);
  let checked = false;
  const refuse = (
    controller: TransformStreamDefaultController<Uint8Array>,
    e: AssetError,
  ) => {
    onRefused(e);
    controller.error(e);
  };
  const invalid = () => new AssetError(`the output is not a valid ${type.extension}`, false);
  return new TransformStream({
    transform(chunk, controller) {
      if (head.length < HEAD_KEEP) head = concat(head, chunk).subarray(0, HEAD_KEEP);
      if (type.complete) {
        tail = chunk.length >= TAIL_KEEP
          ? chunk.slice(chunk.length - TAIL_KEEP)
          : concat(tail, chunk).slice(-TAIL_KEEP);
      }
      if (!checked && head.length >= type.headBytes) {
        checked = true;
        if (!type.matches(head)) {
          refuse(controller, invalid());
          return;
        }
      }
      seen += chunk.byteLength;
      if (seen > maxBytes) {
        refuse(controller, new AssetError("the output is larger than allowed", false));
        return;
      }
      controller.enqueue(chunk);
    },
    flush(controller) {
      if (seen === 0) {
        refuse(controller, new AssetError("the output is empty", true));
      } else if (expectedLength !== null && seen !== expectedLength) {
        refuse(controller, new AssetError("the download was cut short", true));
      } else if (
        (!checked && (head.length < type.headBytes || !type.matches(head))) ||
        (type.complete && !type.complete(head, tail, seen))
      ) {
        refuse(controller, invalid());
      }
    },
  });
}
