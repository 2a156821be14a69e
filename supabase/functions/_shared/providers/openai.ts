/**
 * OpenAI Images client (gpt-image-1 edits and generations) through the official SDK: the only
 * code that knows OpenAI's wire format (see shared/reference/provider_apis.md §2).
 *
 * Every call is billed, so the SDK's own retries are off (`maxRetries: 0`): the caller
 * decides, using `ProviderError.landed` (only `"no"` is safe to replay).
 */
import OpenAI, {
  APIConnectionError,
  APIConnectionTimeoutError,
  APIError,
  APIUserAbortError,
  toFile,
} from "openai";
import { ProviderError } from "./errors.ts";
import { isConnectError, parseRetryAfter } from "./http.ts";

export type ImageContentType = "image/png" | "image/jpeg" | "image/webp";

export interface OpenAIGenerateParams {
  prompt: string;
  n: number;
  size?: string;
  quality?: string;
  background?: string;
}

export interface OpenAIEditParams extends OpenAIGenerateParams {
  image: Uint8Array;
  contentType: ImageContentType;
  filename: string;
}

export interface OpenAIImagesResult {
  /** Decoded PNG bytes, one per generated image. */
  images: Uint8Array[];
  requestId?: string;
}

export interface OpenAIImagesClient {
  edit(p: OpenAIEditParams): Promise<OpenAIImagesResult>;
  generate(p: OpenAIGenerateParams): Promise<OpenAIImagesResult>;
}

type Op = "images.edit" | "images.generate";

export interface OpenAIImagesOptions {
  apiKey: string;
  baseUrl: string;
  /** Whole call, upload to last byte. Default 140 000 ms (inside the 150 s Edge wall clock). */
  timeoutMs?: number;
  fetch?: typeof fetch;
}

const PNG_MAGIC = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

function isPng(b: Uint8Array): boolean {
  return b.length > 8 && PNG_MAGIC.every((v, i) => b[i] === v);
}

function decodeBase64(s: string): Uint8Array {
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

function header(h: Headers | undefined, name: string): string | null {
  return h?.get(name) ?? null;
}

/** Classifies anything the SDK throws during an edit or a generation. */
export function mapOpenAIError(e: unknown, op: Op = "images.edit"): ProviderError {
  if (e instanceof ProviderError) return e;
  if (e instanceof APIConnectionTimeoutError) {
    return new ProviderError({
      provider: "openai",
      kind: "transient",
      landed: "maybe",
      code: "timeout",
      message: `openai ${op}: ${e.message}`,
      cause: e,
    });
  }
  if (e instanceof APIUserAbortError) {
    return new ProviderError({
      provider: "openai",
      kind: "transient",
      landed: "maybe",
      code: "timeout",
      message: `openai ${op} aborted: ${e.message}`,
      cause: e,
    });
  }
  if (e instanceof APIConnectionError) {
    const connect = isConnectError(e);
    return new ProviderError({
      provider: "openai",
      kind: "transient",
      landed: connect ? "no" : "maybe",
      code: "network",
      message: `openai ${op}: ${e.message}${
        e.cause instanceof Error ? ` (${e.cause.message})` : ""
      }`,
      cause: e,
    });
  }
  if (e instanceof APIError) {
    const status = e.status ?? 0;
    const code = e.code ?? undefined;
    const type = e.type ?? undefined;
    const requestId = e.requestID ?? undefined;
    const base = {
      provider: "openai" as const,
      status,
      providerCode: code ?? type,
      requestId,
      // The SDK message is "<status> <provider message>"; kept for logs only.
      message: `openai ${op}: ${e.message}`.slice(0, 500),
      cause: e,
    };
    if (
      code === "moderation_blocked" || code === "content_policy_violation" ||
      type === "image_generation_user_error"
    ) {
      return new ProviderError({
        ...base,
        kind: "permanent",
        landed: "no",
        code: "content_policy",
      });
    }
    if (code === "insufficient_quota" || type === "insufficient_quota") {
      return new ProviderError({
        ...base,
        kind: "permanent",
        landed: "no",
        code: "insufficient_credits",
      });
    }
    if (status === 429) {
      const ms = Number(header(e.headers, "retry-after-ms"));
      const retryAfterSeconds = Number.isFinite(ms) && ms > 0
        ? Math.ceil(ms / 1000)
        : parseRetryAfter(header(e.headers, "retry-after"));
      return new ProviderError({
        ...base,
        kind: "transient",
        landed: "no",
        code: "rate_limited",
        retryAfterSeconds,
      });
    }
    if (status === 401 || status === 403) {
      return new ProviderError({ ...base, kind: "permanent", landed: "no", code: "auth_failed" });
    }
    if (status === 408 || status === 409 || status >= 500) {
      return new ProviderError({
        ...base,
        kind: "transient",
        landed: "maybe",
        code: status === 408 ? "timeout" : "provider_unavailable",
        retryAfterSeconds: parseRetryAfter(header(e.headers, "retry-after")),
      });
    }
    if (status >= 400) {
      return new ProviderError({
        ...base,
        kind: "permanent",
        landed: "no",
        code: "invalid_request",
      });
    }
  }
  // Body read failures and unparsable JSON after a 2xx: the call was billed or may have been.
  return new ProviderError({
    provider: "openai",
    kind: "transient",
    landed: "maybe",
    code: "bad_response",
    message: `openai ${op}: ${(e as Error)?.message ?? String(e)}`.slice(0, 500),
    cause: e,
  });
}

/** The images of a response, checked: base64 that decodes to PNGs. */
function imagesOf(data: OpenAI.Images.ImagesResponse, op: Op, requestId?: string) {
  const bad = (what: string) =>
    new ProviderError({
      provider: "openai",
      kind: "transient",
      landed: "yes",
      code: "bad_response",
      requestId,
      message: `openai ${op}: ${what}`,
    });
  const images: Uint8Array[] = [];
  for (const item of data.data ?? []) {
    if (typeof item?.b64_json !== "string") throw bad("image without b64_json");
    let bytes: Uint8Array;
    try {
      bytes = decodeBase64(item.b64_json);
    } catch {
      throw bad("invalid base64");
    }
    if (!isPng(bytes)) throw bad("image is not a PNG");
    images.push(bytes);
  }
  if (images.length === 0) throw bad("no images");
  return { images, requestId };
}

/** The options both calls take, as the SDK types them (absent ones left out). */
function options(p: OpenAIGenerateParams) {
  type Edit = OpenAI.Images.ImageEditParams;
  return {
    n: p.n,
    ...(p.size ? { size: p.size as Edit["size"] } : {}),
    ...(p.quality ? { quality: p.quality as Edit["quality"] } : {}),
    ...(p.background ? { background: p.background as Edit["background"] } : {}),
  };
}

export function createOpenAIImages(opts: OpenAIImagesOptions): OpenAIImagesClient {
  // Built lazily so a missing key fails the call (auth_failed), not the process start.
  let client: OpenAI | undefined;
  const sdk = () =>
    client ??= new OpenAI({
      apiKey: opts.apiKey,
      baseURL: opts.baseUrl,
      maxRetries: 0,
      timeout: opts.timeoutMs ?? 140_000,
      ...(opts.fetch ? { fetch: opts.fetch } : {}),
    });
  const requireKey = () => {
    if (!opts.apiKey) {
      throw new ProviderError({
        provider: "openai",
        kind: "permanent",
        landed: "no",
        code: "auth_failed",
        message: "openai: OPENAI_API_KEY is not set",
      });
    }
  };
  /** One billed call, its errors classified, its images checked. */
  async function call(
    op: Op,
    send: () => Promise<{ data: unknown; request_id: string | null }>,
  ): Promise<OpenAIImagesResult> {
    let r: { data: unknown; request_id: string | null };
    try {
      r = await send();
    } catch (e) {
      throw mapOpenAIError(e, op);
    }
    return imagesOf(r.data as OpenAI.Images.ImagesResponse, op, r.request_id ?? undefined);
  }

  return {
    async edit(p) {
      requireKey();
      const file = await toFile(p.image, p.filename, { type: p.contentType });
      return await call("images.edit", () =>
        sdk().images.edit({
          model: "gpt-image-1",
          image: [file],
          prompt: p.prompt,
          ...options(p),
        }).withResponse());
    },
    async generate(p) {
      requireKey();
      return await call("images.generate", () =>
        sdk().images.generate({
          model: "gpt-image-1",
          prompt: p.prompt,
          ...options(p),
        }).withResponse());
    },
  };
}
