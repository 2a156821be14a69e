/**
 * OpenAI Images simulator (local stand-in; never imported by functions).
 * Served under `/v1` (OPENAI_BASE_URL = `${url}/v1`); control API under `/__sim/…`.
 * Wire format per shared/reference/provider_apis.md §2.
 *
 * Provider API
 *   POST /v1/images/edits  multipart/form-data, `Authorization: Bearer sk-…` (else 401
 *     invalid_api_key). Fields: image | image[] (repeated; 1–16 files, content type
 *     image/png|image/jpeg|image/webp, else 400 "Invalid file 'image': unsupported mimetype"),
 *     mask, prompt (required, ≤32000), model (required, gpt-image-1), n (1–10), size, quality,
 *     background, output_format (png only here), output_compression, input_fidelity, user.
 *     Anything else → 400 unknown_parameter.
 *     → {created, data:[{b64_json}×n], background, output_format, quality, size, usage}
 *     (images are imageSide × imageSide PNGs)
 *   POST /v1/images/generations  JSON {model (required, gpt-image-1), prompt (required,
 *     ≤32000), n (1–10), size 1024x1024|1536x1024|1024x1536|auto, quality low|medium|high|auto,
 *     background transparent|opaque|auto (transparent needs png/webp), moderation low|auto,
 *     output_format png|jpeg|webp (png default), output_compression (0–100, jpeg/webp only),
 *     user}. `response_format` and `style` (DALL·E only) and any other field → 400
 *     unknown_parameter with its param, as the API answers for gpt-image-1; wrong JSON types →
 *     invalid_type; a body that is not JSON → 400. `stream`/`partial_images` are not simulated
 *     (400, code sim_unsupported). → {created, data:[{b64_json}×n], background, output_format,
 *     quality, size, usage}: real, decodable images of the requested size (auto = 1024x1024),
 *     compressed, so a few KB to a few tens of KB each (PNG; baseline JPEG; lossless WebP).
 *   Every response carries `x-request-id`. Errors: {error:{message,type,param,code}}.
 *
 * Prompt markers (both routes): [sim:moderation] → 400 moderation_blocked (image_generation_user_error);
 *   [sim:429] → 429 rate_limit_exceeded + retry-after; [sim:quota] → 429 insufficient_quota;
 *   [sim:500] → 500 server_error; [sim:503] → 503 overloaded; [sim:slow=MS] → answer after MS.
 *
 * Control API (JSON)
 *   GET  /__sim/requests?since=SEQ&method=&path=&contains=  → {requests:[…], last}
 *        (`body`: prompt cut to 300 chars, scalar fields, image parts as
 *        {name, filename, type, size}; generations: the JSON body with long strings cut;
 *        never the Authorization header)
 *   GET  /__sim/stats   → {edits (POST /v1/images/edits seen), succeeded (edits answered 200),
 *        generations (POST /v1/images/generations seen), generationsSucceeded}
 *   GET  /__sim/config  → config;  POST /__sim/config merge {imageSide (px, default 64),
 *        retryAfterSec, latencyMs, faults:[…] (replace; see ./mod.ts)}
 *   POST /__sim/reset   {} everything; {"scope":"log"} log only
 */
import { makeJpeg, makePng, makePngCompressed, makeWebp, sniffImage } from "./images.ts";
import {
  brokenResponse,
  FaultEngine,
  handleControl,
  json,
  keyFingerprint,
  type LogEntry,
  parseMarkers,
  RequestLog,
  serveSimulator,
  type SimFault,
  sleep,
  summarize,
} from "./mod.ts";

export interface OpenAISimConfig {
  imageSide: number;
  retryAfterSec: number;
  latencyMs: number;
  faults: SimFault[];
}

export interface OpenAISimOptions {
  publicUrl: string;
  fetchInput?: typeof fetch;
  config?: Partial<OpenAISimConfig>;
}

const DEFAULTS = { imageSide: 64, retryAfterSec: 1, latencyMs: 0 };

class OpenAIError {
  constructor(
    readonly status: number,
    readonly message: string,
    readonly type: string,
    readonly param: string | null,
    readonly code: string | null,
    readonly headers: Record<string, string> = {},
    readonly extra: Record<string, unknown> = {},
  ) {}
}

const bad = (message: string, param: string | null, code: string | null = "invalid_value") =>
  new OpenAIError(400, message, "invalid_request_error", param, code);

const ALLOWED = new Set([
  "image",
  "image[]",
  "mask",
  "prompt",
  "model",
  "n",
  "size",
  "quality",
  "background",
  "output_format",
  "output_compression",
  "input_fidelity",
  "user",
]);
const MIMES = ["image/png", "image/jpeg", "image/webp"];

function b64(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(s);
}

export function createOpenAISimulator(opts: OpenAISimOptions) {
  const initial = { ...DEFAULTS, ...opts.config };
  let config = { ...initial };
  const faults = new FaultEngine();
  const log = new RequestLog();
  const newStats = () => ({ edits: 0, succeeded: 0, generations: 0, generationsSucceeded: 0 });
  let stats = newStats();

  function reset() {
    config = { ...initial };
    faults.set([]);
    log.clear();
    stats = newStats();
  }

  function errorResponse(e: OpenAIError, requestId: string): Response {
    return json(
      e.status,
      { error: { message: e.message, type: e.type, param: e.param, code: e.code, ...e.extra } },
      { "x-request-id": requestId, ...e.headers },
    );
  }

  async function auth(req: Request, entry: LogEntry) {
    const m = (req.headers.get("authorization") ?? "").match(/^Bearer\s+(\S+)$/i);
    if (!m || !m[1].startsWith("sk-")) {
      entry.authOk = false;
      throw new OpenAIError(
        401,
        "Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.",
        "invalid_request_error",
        null,
        "invalid_api_key",
      );
    }
    entry.authOk = true;
    entry.keyId = await keyFingerprint(m[1]);
  }

  /** The prompt markers shared by edits and generations: latency, then the error they ask for. */
  async function promptOutcome(prompt: string, requestId: string): Promise<void> {
    const marks = parseMarkers(prompt);
    const slow = Number(marks.get("slow"));
    const wait = slow > 0 ? slow : config.latencyMs;
    if (wait > 0) await sleep(wait);
    if (marks.has("moderation")) {
      throw new OpenAIError(
        400,
        `Your request was rejected by the safety system. If you believe this is an error, contact us at help.openai.com and include the request ID ${requestId}. safety_violations=[violence].`,
        "image_generation_user_error",
        null,
        "moderation_blocked",
        {},
        { moderation_details: { moderation_stage: "input", categories: ["violence"] } },
      );
    }
    if (marks.has("429")) {
      throw new OpenAIError(
        429,
        "Rate limit reached for gpt-image-1 on images per minute. Please try again later.",
        "requests",
        null,
        "rate_limit_exceeded",
        { "retry-after": String(config.retryAfterSec) },
      );
    }
    if (marks.has("quota")) {
      throw new OpenAIError(
        429,
        "You exceeded your current quota, please check your plan and billing details.",
        "insufficient_quota",
        null,
        "insufficient_quota",
      );
    }
    if (marks.has("500")) {
      throw new OpenAIError(
        500,
        "The server had an error while processing your request. Sorry about that!",
        "server_error",
        null,
        null,
      );
    }
    if (marks.has("503")) {
      throw new OpenAIError(
        503,
        "The engine is currently overloaded, please try again later.",
        "server_error",
        null,
        null,
      );
    }
  }

  async function edits(req: Request, entry: LogEntry, requestId: string): Promise<Response> {
    stats.edits++;
    await auth(req, entry);
    const ct = req.headers.get("content-type") ?? "";
    if (!ct.startsWith("multipart/form-data")) {
      throw bad("Expected a multipart/form-data body.", null, null);
    }
    let form: FormData;
    try {
      form = await req.formData();
    } catch {
      throw bad("Could not parse the multipart/form-data body.", null, null);
    }
    const summary: Record<string, unknown> = {};
    const images: { field: string; file: File }[] = [];
    const scalars: Record<string, string> = {};
    for (const [name, v] of form.entries()) {
      if (typeof v === "string") {
        summary[name] = summarize(v);
        if (!ALLOWED.has(name)) {
          throw bad(`Unknown parameter: '${name}'.`, name, "unknown_parameter");
        }
        if (name in scalars) throw bad(`Duplicate parameter: '${name}'.`, name);
        scalars[name] = v;
      } else {
        const parts = (summary[name] ??= []) as unknown[];
        parts.push({ filename: v.name, type: v.type, size: v.size });
        if (!ALLOWED.has(name)) {
          throw bad(`Unknown parameter: '${name}'.`, name, "unknown_parameter");
        }
        if (name === "image" || name === "image[]") images.push({ field: name, file: v });
        else if (name !== "mask") throw bad(`'${name}' must be a string.`, name);
      }
    }
    entry.body = summary;
    if (!scalars.model) {
      throw bad("Missing required parameter: 'model'.", "model", "missing_required_parameter");
    }
    if (scalars.model !== "gpt-image-1") {
      throw bad(
        `Invalid value: '${scalars.model}'. Value must be 'gpt-image-1'.`,
        "model",
      );
    }
    if (scalars.prompt === undefined || scalars.prompt === "") {
      throw bad("Missing required parameter: 'prompt'.", "prompt", "missing_required_parameter");
    }
    if (scalars.prompt.length > 32000) {
      throw bad(
        `Invalid 'prompt': string too long. Expected a string with maximum length 32000, but got a string with length ${scalars.prompt.length} instead.`,
        "prompt",
        "string_above_max_length",
      );
    }
    if (images.length === 0) {
      throw bad("Missing required parameter: 'image'.", "image", "missing_required_parameter");
    }
    if (images.length > 16) throw bad("Too many images: at most 16.", "image");
    for (const { field, file } of images) {
      if (!MIMES.includes(file.type)) {
        throw bad(
          `Invalid file '${field === "image[]" ? "image" : field}': unsupported mimetype ('${
            file.type || "application/octet-stream"
          }'). Supported file formats are 'image/jpeg', 'image/png', and 'image/webp'.`,
          field === "image[]" ? "image" : field,
          "unsupported_file_mimetype",
        );
      }
      if (file.size > 50 * 1024 * 1024) throw bad("Image exceeds 50 MB.", "image");
      const kind = sniffImage(new Uint8Array(await file.slice(0, 16).arrayBuffer()));
      if (!kind || `image/${kind}` !== file.type) {
        throw bad(
          "Invalid image file or mode for image 1, please check your image file.",
          "image",
          "invalid_image_file",
        );
      }
    }
    const n = scalars.n === undefined ? 1 : Number(scalars.n);
    if (!Number.isInteger(n) || n < 1 || n > 10) {
      throw bad(
        `Invalid 'n': integer ${scalars.n} out of range. Expected a value between 1 and 10.`,
        "n",
        "integer_out_of_range",
      );
    }
    const enumCheck = (name: string, vals: string[]) => {
      const v = scalars[name];
      if (v !== undefined && !vals.includes(v)) {
        throw bad(
          `Invalid value: '${v}'. Supported values are: ${vals.map((x) => `'${x}'`).join(", ")}.`,
          name,
        );
      }
    };
    enumCheck("size", ["1024x1024", "1536x1024", "1024x1536", "auto"]);
    enumCheck("quality", ["low", "medium", "high", "auto"]);
    enumCheck("background", ["transparent", "opaque", "auto"]);
    enumCheck("output_format", ["png"]);
    enumCheck("input_fidelity", ["high", "low"]);
    if (scalars.output_compression !== undefined) {
      throw bad("output_compression is only supported for jpeg and webp.", "output_compression");
    }
    await promptOutcome(scalars.prompt, requestId);
    const side = Math.max(1, Math.min(1024, Number(config.imageSide) || 64));
    const data = Array.from({ length: n }, (_, i) => ({ b64_json: b64(makePng(side, side, i)) }));
    const size = !scalars.size || scalars.size === "auto" ? "1024x1024" : scalars.size;
    const quality = !scalars.quality || scalars.quality === "auto" ? "medium" : scalars.quality;
    const background = !scalars.background || scalars.background === "auto"
      ? "opaque"
      : scalars.background;
    stats.succeeded++;
    const promptTokens = Math.ceil(scalars.prompt.length / 4);
    const out = 1056 * n;
    return json(200, {
      created: Math.floor(Date.now() / 1000),
      data,
      background,
      output_format: "png",
      quality,
      size,
      usage: {
        input_tokens: promptTokens + 323 * images.length,
        input_tokens_details: { image_tokens: 323 * images.length, text_tokens: promptTokens },
        output_tokens: out,
        total_tokens: promptTokens + 323 * images.length + out,
      },
    });
  }

  const imageCache = new Map<string, string>();

  /** Base64 of a real image of that format and size; cached (sizes and seeds are few). */
  async function imageB64(format: string, w: number, h: number, seed: number): Promise<string> {
    const key = `${format}:${w}x${h}:${seed}`;
    let v = imageCache.get(key);
    if (!v) {
      const bytes = format === "jpeg"
        ? makeJpeg(w, h, seed)
        : format === "webp"
        ? makeWebp(w, h, seed)
        : await makePngCompressed(w, h, seed);
      v = b64(bytes);
      if (imageCache.size > 200) imageCache.clear();
      imageCache.set(key, v);
    }
    return v;
  }

  const GEN_ALLOWED = new Set([
    "prompt",
    "model",
    "n",
    "size",
    "quality",
    "background",
    "moderation",
    "output_format",
    "output_compression",
    "stream",
    "partial_images",
    "user",
  ]);

  function typeName(v: unknown): string {
    if (v === null) return "null";
    if (Array.isArray(v)) return "an array";
    if (typeof v === "number") return Number.isInteger(v) ? "an integer" : "a decimal";
    if (typeof v === "object") return "an object";
    return `a ${typeof v === "boolean" ? "boolean" : typeof v}`;
  }

  function invalidType(name: string, expected: string, v: unknown): OpenAIError {
    return bad(
      `Invalid type for '${name}': expected ${expected}, but got ${typeName(v)} instead.`,
      name,
      "invalid_type",
    );
  }

  async function generations(req: Request, entry: LogEntry, requestId: string): Promise<Response> {
    stats.generations++;
    await auth(req, entry);
    const text = await req.text();
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw bad(
        "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON. If you have trouble figuring out how to fix this, please contact us through our help center at help.openai.com.)",
        null,
        null,
      );
    }
    if (!body || typeof body !== "object" || Array.isArray(body)) {
      throw invalidType("body", "an object", body);
    }
    const b = body as Record<string, unknown>;
    entry.body = summarize(b);
    for (const k of Object.keys(b)) {
      if (!GEN_ALLOWED.has(k)) throw bad(`Unknown parameter: '${k}'.`, k, "unknown_parameter");
    }
    const str = (name: string) => {
      const v = b[name];
      if (v !== undefined && v !== null && typeof v !== "string") {
        throw invalidType(name, "a string", v);
      }
      return v === null ? undefined : v as string | undefined;
    };
    const int = (name: string, min: number, max: number) => {
      const v = b[name];
      if (v === undefined || v === null) return undefined;
      if (typeof v !== "number" || !Number.isInteger(v)) throw invalidType(name, "an integer", v);
      if (v > max) {
        throw bad(
          `Invalid '${name}': integer above maximum value. Expected a value <= ${max}, but got ${v} instead.`,
          name,
          "integer_above_max_value",
        );
      }
      if (v < min) {
        throw bad(
          `Invalid '${name}': integer below minimum value. Expected a value >= ${min}, but got ${v} instead.`,
          name,
          "integer_below_min_value",
        );
      }
      return v;
    };
    const model = str("model");
    if (model === undefined) {
      throw bad("Missing required parameter: 'model'.", "model", "missing_required_parameter");
    }
    if (model !== "gpt-image-1") {
      throw bad(`Invalid value: '${model}'. Value must be 'gpt-image-1'.`, "model");
    }
    const prompt = str("prompt");
    if (prompt === undefined || prompt === "") {
      throw bad("Missing required parameter: 'prompt'.", "prompt", "missing_required_parameter");
    }
    if (prompt.length > 32000) {
      throw bad(
        `Invalid 'prompt': string too long. Expected a string with maximum length 32000, but got a string with length ${prompt.length} instead.`,
        "prompt",
        "string_above_max_length",
      );
    }
    const n = int("n", 1, 10) ?? 1;
    const enumOf = (name: string, vals: string[]) => {
      const v = str(name);
      if (v !== undefined && !vals.includes(v)) {
        const list = vals.map((x) => `'${x}'`);
        throw bad(
          `Invalid value: '${v}'. Supported values are: ${list.slice(0, -1).join(", ")}, and ${
            list.at(-1)
          }.`,
          name,
        );
      }
      return v;
    };
    const sizeIn = enumOf("size", ["1024x1024", "1024x1536", "1536x1024", "auto"]);
    const qualityIn = enumOf("quality", ["low", "medium", "high", "auto"]);
    const backgroundIn = enumOf("background", ["transparent", "opaque", "auto"]);
    enumOf("moderation", ["low", "auto"]);
    const format = enumOf("output_format", ["png", "jpeg", "webp"]) ?? "png";
    str("user");
    const compression = int("output_compression", 0, 100);
    if (compression !== undefined && format === "png") {
      throw bad(
        "output_compression is only supported for the jpeg and webp output formats.",
        "output_compression",
      );
    }
    if (backgroundIn === "transparent" && format === "jpeg") {
      throw bad(
        "Transparent background is not supported for the jpeg output format; use png or webp.",
        "background",
      );
    }
    if (b.stream !== undefined && b.stream !== null && typeof b.stream !== "boolean") {
      throw invalidType("stream", "a boolean", b.stream);
    }
    if (b.stream === true || (b.partial_images !== undefined && b.partial_images !== null)) {
      throw bad(
        "Streaming (stream, partial_images) is not implemented by the simulator.",
        b.stream === true ? "stream" : "partial_images",
        "sim_unsupported",
      );
    }
    await promptOutcome(prompt, requestId);
    const size = !sizeIn || sizeIn === "auto" ? "1024x1024" : sizeIn;
    const [w, h] = size.split("x").map(Number);
    const data = [];
    for (let i = 0; i < n; i++) data.push({ b64_json: await imageB64(format, w, h, i) });
    const quality = !qualityIn || qualityIn === "auto" ? "medium" : qualityIn;
    const background = !backgroundIn || backgroundIn === "auto" ? "opaque" : backgroundIn;
    stats.generationsSucceeded++;
    const promptTokens = Math.ceil(prompt.length / 4);
    const perImage = { low: 272, medium: 1056, high: 4160 }[quality] ?? 1056;
    const out = perImage * (w === h ? 1 : 1.5) * n;
    return json(200, {
      created: Math.floor(Date.now() / 1000),
      data,
      background,
      output_format: format,
      quality,
      size,
      usage: {
        input_tokens: promptTokens,
        input_tokens_details: { image_tokens: 0, text_tokens: promptTokens },
        output_tokens: out,
        total_tokens: promptTokens + out,
      },
    });
  }

  function control(req: Request, url: URL): Promise<Response> {
    return handleControl(req, url, {
      log,
      stats,
      faults,
      config: () => ({ ...config }),
      applyConfig: (b) => {
        for (const k of Object.keys(DEFAULTS) as (keyof typeof DEFAULTS)[]) {
          if (typeof b[k] === "number") config[k] = b[k] as number;
        }
      },
      reset,
    });
  }

  function faultError(f: SimFault): OpenAIError {
    const status = f.status ?? 500;
    const headers: Record<string, string> = {};
    if (f.retryAfter !== undefined) headers["retry-after"] = String(f.retryAfter);
    if (status === 429) {
      return new OpenAIError(
        429,
        f.message ?? "Rate limit reached for gpt-image-1. Please try again later.",
        "requests",
        null,
        typeof f.code === "string" ? f.code : "rate_limit_exceeded",
        headers,
      );
    }
    return new OpenAIError(
      status,
      f.message ??
        (status >= 500
          ? "The server had an error while processing your request."
          : "Simulated error"),
      status >= 500 ? "server_error" : "invalid_request_error",
      null,
      typeof f.code === "string" ? f.code : null,
      headers,
    );
  }

  async function handle(req: Request): Promise<Response> {
    const url = new URL(req.url);
    if (url.pathname.startsWith("/__sim/")) return control(req, url);
    const requestId = `req_${crypto.randomUUID().replaceAll("-", "")}`;
    const entry = log.add({
      method: req.method,
      path: url.pathname,
      query: url.search,
      authOk: null,
    });
    const fault = faults.take(req.method, url.pathname);
    const kind = fault?.kind ?? "status";
    if (fault) entry.fault = kind;
    if (fault && kind === "delay") await sleep(fault.delayMs ?? 1000);
    if (fault && kind === "status" && !fault.landed) {
      const isGen = url.pathname === "/v1/images/generations" && req.method === "POST";
      if (isGen) {
        // Keep the body in the log (with `fault`), so tests can tell billed calls apart.
        try {
          entry.body = summarize(JSON.parse(await req.text()));
        } catch {
          // not JSON: nothing to log
        }
      } else await req.body?.cancel().catch(() => {});
      // Count the call even when answered by a fault: it reached the endpoint.
      if (url.pathname === "/v1/images/edits" && req.method === "POST") stats.edits++;
      if (isGen) stats.generations++;
      const e = faultError(fault);
      entry.status = e.status;
      return errorResponse(e, requestId);
    }
    let res: Response;
    try {
      if (url.pathname === "/v1/images/edits" && req.method === "POST") {
        res = await edits(req, entry, requestId);
      } else if (url.pathname === "/v1/images/generations" && req.method === "POST") {
        res = await generations(req, entry, requestId);
      } else {
        throw new OpenAIError(
          404,
          `Invalid URL (${req.method} ${url.pathname})`,
          "invalid_request_error",
          null,
          null,
        );
      }
    } catch (e) {
      if (!(e instanceof OpenAIError)) throw e;
      res = errorResponse(e, requestId);
    }
    if (fault && kind === "status") {
      await res.body?.cancel();
      res = errorResponse(faultError(fault), requestId);
    } else if (fault && kind === "reset") {
      await res.body?.cancel();
      entry.status = 0;
      return brokenResponse({ "x-request-id": requestId });
    } else if (fault && kind === "malformed") {
      await res.body?.cancel();
      res = new Response('{"created":1,"data":[{"b64_json":', {
        headers: { "content-type": "application/json" },
      });
    }
    res.headers.set("x-request-id", requestId);
    entry.status = res.status;
    return res;
  }

  return {
    fetch: handle,
    reset,
    get stats() {
      return { ...stats };
    },
    configure(patch: Partial<OpenAISimConfig>) {
      const { faults: f, ...rest } = patch;
      config = { ...config, ...rest };
      if (f) faults.set(f);
    },
  };
}

export type OpenAISimulator = ReturnType<typeof createOpenAISimulator>;

export function serveOpenAISimulator(
  opts: { port?: number; hostname?: string; config?: Partial<OpenAISimConfig> } = {},
) {
  const s = serveSimulator(
    (publicUrl) => createOpenAISimulator({ publicUrl, config: opts.config }),
    opts,
  );
  return { ...s, baseUrl: `${s.url}/v1` };
}
