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

/** An output file type: what it is stored as and how its first bytes must look. */
export interface OutputType {
  contentType: string;
  extension: string;
  /** Bytes needed before `matches` can decide. */
  headBytes: number;
  matches(head: Uint8Array): boolean;
}

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
    matches: (b) => [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a].every((v, i) => b[i] === v),
  },
} satisfies Record<string, OutputType>;

/**
 * Passes bytes through while checking them: the file type from the first bytes, the total
 * against Content-Length (a truncated download must fail, not become a short object), and a
 * size cap. Any failure errors the stream, which aborts the Storage upload it feeds.
 */
export function verifyingStream(
  type: OutputType,
  expectedLength: number | null,
  maxBytes: number,
): TransformStream<Uint8Array, Uint8Array> {
  let seen = 0;
  let head = new Uint8Array(0);
  let checked = false;
  return new TransformStream({
    transform(chunk, controller) {
      if (!checked) {
        const merged = new Uint8Array(head.length + chunk.length);
        merged.set(head);
        merged.set(chunk, head.length);
        head = merged.subarray(0, Math.min(merged.length, 64));
        if (head.length >= type.headBytes) {
          checked = true;
          if (!type.matches(head)) {
            controller.error(new AssetError(`the output is not a valid ${type.extension}`, false));
            return;
          }
        }
      }
      seen += chunk.byteLength;
      if (seen > maxBytes) {
        controller.error(new AssetError("the output is larger than allowed", false));
        return;
      }
      controller.enqueue(chunk);
    },
    flush(controller) {
      if (seen === 0) {
        controller.error(new AssetError("the output is empty", true));
      } else if (!checked && !type.matches(head)) {
        controller.error(new AssetError(`the output is not a valid ${type.extension}`, false));
      } else if (expectedLength !== null && seen !== expectedLength) {
        controller.error(new AssetError("the download was cut short", true));
      }
    },
  });
}
