/**
 * The OpenAI Images simulator's generations (shared/reference/provider_apis.md §2):
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
 */
import { b64 } from "../bytes.ts";
import { makeJpeg, makePngCompressed, makeWebp } from "../images.ts";
import { json, type LogEntry, summarize } from "../mod.ts";
import { auth } from "./auth.ts";
import { bad, type OpenAIError } from "./errors.ts";
import { promptOutcome } from "./prompt_markers.ts";
import type { OpenAIState } from "./state.ts";

/** Base64 of a real image of that format and size; cached (sizes and seeds are few). */
async function imageB64(
  s: OpenAIState,
  format: string,
  w: number,
  h: number,
  seed: number,
): Promise<string> {
  const key = `${format}:${w}x${h}:${seed}`;
  let v = s.imageCache.get(key);
  if (!v) {
    const bytes = format === "jpeg"
      ? makeJpeg(w, h, seed)
      : format === "webp"
      ? makeWebp(w, h, seed)
      : await makePngCompressed(w, h, seed);
    v = b64(bytes);
    if (s.imageCache.size > 200) s.imageCache.clear();
    s.imageCache.set(key, v);
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

export async function generations(
  s: OpenAIState,
  req: Request,
  entry: LogEntry,
  requestId: string,
): Promise<Response> {
  s.stats.generations++;
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
  await promptOutcome(s, prompt, requestId);
  const size = !sizeIn || sizeIn === "auto" ? "1024x1024" : sizeIn;
  const [w, h] = size.split("x").map(Number);
  const data = [];
  for (let i = 0; i < n; i++) data.push({ b64_json: await imageB64(s, format, w, h, i) });
  const quality = !qualityIn || qualityIn === "auto" ? "medium" : qualityIn;
  const background = !backgroundIn || backgroundIn === "auto" ? "opaque" : backgroundIn;
  s.stats.generationsSucceeded++;
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
