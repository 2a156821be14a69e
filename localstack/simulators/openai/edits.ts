/**
 * The OpenAI Images simulator's edits (shared/reference/provider_apis.md §2):
 *   POST /v1/images/edits  multipart/form-data, `Authorization: Bearer sk-…` (else 401
 *     invalid_api_key). Fields: image | image[] (repeated; 1–16 files, content type
 *     image/png|image/jpeg|image/webp, else 400 "Invalid file 'image': unsupported mimetype"),
 *     mask, prompt (required, ≤32000), model (required, gpt-image-1), n (1–10), size, quality,
 *     background, output_format (png only here), output_compression, input_fidelity, user.
 *     Anything else → 400 unknown_parameter.
 *     → {created, data:[{b64_json}×n], background, output_format, quality, size, usage}
 *     (images are imageSide × imageSide PNGs)
 */
import { b64 } from "../bytes.ts";
import { makePng, sniffImage } from "../images.ts";
import { json, type LogEntry, summarize } from "../mod.ts";
import { auth } from "./auth.ts";
import { bad } from "./errors.ts";
import { promptOutcome } from "./prompt_markers.ts";
import type { OpenAIState } from "./state.ts";

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

export async function edits(
  s: OpenAIState,
  req: Request,
  entry: LogEntry,
  requestId: string,
): Promise<Response> {
  s.stats.edits++;
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
  await promptOutcome(s, scalars.prompt, requestId);
  const side = Math.max(1, Math.min(1024, Number(s.config.imageSide) || 64));
  const data = Array.from({ length: n }, (_, i) => ({ b64_json: b64(makePng(side, side, i)) }));
  const size = !scalars.size || scalars.size === "auto" ? "1024x1024" : scalars.size;
  const quality = !scalars.quality || scalars.quality === "auto" ? "medium" : scalars.quality;
  const background = !scalars.background || scalars.background === "auto"
    ? "opaque"
    : scalars.background;
  s.stats.succeeded++;
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
