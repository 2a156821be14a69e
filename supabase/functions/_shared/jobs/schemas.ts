// One schema per job kind, from the request to the provider (SPEC §2.1). The zod schema that
// validates a request body also types the job request stored in `jobs.request` and what the
// provider client receives: a stored request is the body minus what only the BFF needs (the
// client's task_id, input URLs) plus the probed inputs. Strict objects: unknown fields are
// refused, so a typo never silently drops an option the user paid for, and an option a
// provider does not document can never be accepted and then dropped.
import { z } from "zod";

export const JOB_KINDS = [
  "image_to_image",
  "text_to_image",
  "text_to_model",
  "image_to_model",
  "sketch_to_model",
  "refine_model",
  "convert_model",
] as const;
export type JobKind = (typeof JOB_KINDS)[number];
export const jobKind = z.enum(JOB_KINDS);
export type Provider = "openai" | "tripo";

// --- fields ----------------------------------------------------------------------------------

export const taskId = z.string().regex(
  /^[A-Za-z0-9_-]{1,128}$/,
  "must be 1–128 characters of A–Z, a–z, 0–9, _ or -",
).describe("The app's workspace-item id: names the output folder; never sent to a provider.");
const assetUrl = z.string().min(1).max(2048).describe(
  "A Storage URL of this project (/storage/v1/object/{public|authenticated|sign}/<bucket>/<path>) " +
    "that the caller may read; any other host, an IP literal or a redirect is refused.",
);
const seed = z.number().int().min(0).max(2_147_483_647);

/** Control characters other than tab, newline and carriage return. */
export function hasControlChars(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) || c === 0x7f) return true;
  }
  return false;
}
// The descriptions below state the rules JSON Schema cannot (transforms, refinements): the
// OpenAPI document is generated from these schemas (tools/openapi).
const text = (max: number) =>
  z.string().trim().min(1).max(max).refine((s) => !hasControlChars(s), {
    message: "must not contain control characters",
  }).describe(
    `Trimmed of surrounding white space, then 1–${max} characters; no control characters ` +
      "other than tab, newline and carriage return.",
  );

// --- Tripo options (provider_apis.md §1.4: only what each task type documents) ----------------

const modelOptions = {
  style: z.enum([
    "person:person2cartoon",
    "animal:venom",
    "object:clay",
    "object:steampunk",
    "object:christmas",
    "object:barbie",
    "gold",
    "ancient_bronze",
  ]).optional(),
  texture: z.boolean().optional(),
  pbr: z.boolean().optional(),
  model_version: z.string().regex(/^[A-Za-z0-9._-]{1,40}$/).optional(),
  face_limit: z.number().int().min(48).max(500_000).optional(),
  auto_size: z.boolean().optional(),
  texture_quality: z.enum(["standard", "detailed"]).optional(),
  model_seed: seed.optional(),
  texture_seed: seed.optional(),
};
const textModelOptions = {
  ...modelOptions,
  negative_prompt: text(255).optional(),
  image_seed: seed.optional(),
};
const imageModelOptions = {
  ...modelOptions,
  orientation: z.enum(["default", "align_image"]).optional(),
  texture_alignment: z.enum(["original_image", "geometry"]).optional(),
};

export const textToModelParams = z.strictObject({ prompt: text(1024), ...textModelOptions });
export const imageModelParams = z.strictObject(imageModelOptions);
/** Tripo's refine_model documents no option besides the draft. */
export const refineParams = z.strictObject({});

// --- conversions (Tripo convert_model, provider_apis.md §1.4 and Tripo's post-process doc) -----

export const CONVERT_FORMATS = ["GLTF", "USDZ", "FBX", "OBJ", "STL", "3MF"] as const;
export type ConvertFormat = (typeof CONVERT_FORMATS)[number];
export const convertFormat = z.enum(CONVERT_FORMATS);

/** Tripo model versions from v2.0-20240919 on, whose models take textures up to 4096. */
export const TEXTURE_4096_VERSIONS = [
  "P1-20260311",
  "v3.1-20260211",
  "v3.0-20250812",
  "v2.5-20250123",
  "v2.0-20240919",
];

const convertOptions = {
  format: convertFormat,
  quad: z.boolean().optional(),
  force_symmetry: z.boolean().optional(),
  face_limit: z.number().int().min(1).max(2_000_000).optional(),
  flatten_bottom: z.boolean().optional(),
  flatten_bottom_threshold: z.number().min(0).max(1).optional(),
  texture_size: z.number().int().min(1).max(4096).optional(),
  texture_format: z.enum([
    "BMP",
    "DPX",
    "HDR",
    "JPEG",
    "OPEN_EXR",
    "PNG",
    "TARGA",
    "TIFF",
    "WEBP",
  ]).optional(),
  pivot_to_center_bottom: z.boolean().optional(),
  scale_factor: z.number().positive().max(1000).optional(),
  with_animation: z.boolean().optional(),
  pack_uv: z.boolean().optional(),
  bake: z.boolean().optional(),
  part_names: z.array(text(100)).min(1).max(50).optional(),
  animate_in_place: z.boolean().optional(),
  export_vertex_colors: z.boolean().optional(),
  export_orientation: z.enum(["+x", "-x", "+y", "-y"]).optional(),
  fbx_preset: z.enum(["blender", "3dsmax", "mixamo"]).optional(),
};

/** Combinations Tripo refuses (400/1004): refused here, before anything is paid. */
function convertRules(
  p: {
    format: ConvertFormat;
    texture_format?: string;
    export_vertex_colors?: boolean;
    fbx_preset?: string;
  },
  ctx: z.RefinementCtx,
): void {
  if (p.format === "FBX" && p.texture_format && !["JPEG", "PNG"].includes(p.texture_format)) {
    ctx.addIssue({
      code: "custom",
      path: ["texture_format"],
      message: "FBX takes JPEG or PNG textures only",
    });
  }
  if (p.export_vertex_colors && p.format !== "OBJ" && p.format !== "GLTF") {
    ctx.addIssue({
      code: "custom",
      path: ["export_vertex_colors"],
      message: "export_vertex_colors is for OBJ and GLTF only",
    });
  }
  if (p.fbx_preset && p.format !== "FBX") {
    ctx.addIssue({ code: "custom", path: ["fbx_preset"], message: "fbx_preset is for FBX only" });
  }
}

const CONVERT_RULES = "Refused combinations (400 validation_failed): FBX takes texture_format " +
  "JPEG or PNG only; export_vertex_colors is for OBJ and GLTF only; fbx_preset is for FBX only; " +
  "texture_size above 2048 needs a source model made with a model_version that takes 4096 " +
  `textures (${TEXTURE_4096_VERSIONS.join(", ")}).`;

export const convertParams = z.strictObject(convertOptions).superRefine(convertRules);
export type ConvertParams = z.infer<typeof convertParams>;

/** Conversions chained after a model succeeds: distinct formats, at most all six. */
const outputFormats = z.array(convertFormat).min(1).max(CONVERT_FORMATS.length).refine(
  (l) => new Set(l).size === l.length,
  { message: "must not list a format twice" },
).describe(
  "Conversions to chain after the model succeeds, each its own job; distinct formats (a format " +
    "listed twice is refused). Each is priced as a convert_model job.",
).optional();

// --- OpenAI options (provider_apis.md §2.2) ---------------------------------------------------

export const imageParams = z.strictObject({
  n: z.number().int().min(1).max(4).default(1),
  background: z.enum(["transparent", "opaque", "auto"]).optional(),
  size: z.enum(["1024x1024", "1536x1024", "1024x1536", "auto"]).optional(),
  quality: z.enum(["low", "medium", "high", "auto"]).optional(),
});

// --- request bodies ----------------------------------------------------------------------------

export const imageToImageBody = z.strictObject({
  task_id: taskId,
  prompt: text(4000),
  input_image_asset_url: assetUrl,
  style: text(200).optional(),
  ...imageParams.shape,
});

export const textToImageBody = z.strictObject({
  task_id: taskId,
  prompt: text(4000),
  style: text(200).optional(),
  ...imageParams.shape,
});

export const textToModelBody = z.strictObject({
  task_id: taskId,
  ...textToModelParams.shape,
  output_formats: outputFormats,
});

export const imageToModelBody = z.strictObject({
  task_id: taskId,
  input_image_asset_urls: z.array(assetUrl).min(1).max(4).describe(
    "Views in the order [front, left, back, right]: one URL makes an image_to_model job, " +
      "two to four a multiview_to_model job.",
  ),
  ...imageModelParams.shape,
  output_formats: outputFormats,
});

export const sketchToModelBody = z.strictObject({
  task_id: taskId,
  input_sketch_asset_url: assetUrl,
  ...imageModelParams.shape,
  output_formats: outputFormats,
});

export const refineModelBody = z.strictObject({
  task_id: taskId,
  input_model_asset_url: assetUrl,
  draft_model_task_id: z.string().regex(/^[A-Za-z0-9-]{1,64}$/).optional(),
  output_formats: outputFormats,
});

export const convertModelBody = z.strictObject({
  task_id: taskId,
  input_model_asset_url: assetUrl,
  ...convertOptions,
}).superRefine(convertRules).describe(CONVERT_RULES);

// --- stored job requests (jobs.request) -----------------------------------------------------

const imageType = z.enum(["image/png", "image/jpeg", "image/webp"]);
const storedObject = { bucket: z.string(), path: z.string(), size: z.number().int() };
export const storedImage = z.object({ ...storedObject, content_type: imageType });
export const storedModel = z.object({
  ...storedObject,
  content_type: z.literal("model/gltf-binary"),
});
export type StoredImage = z.infer<typeof storedImage>;
export type StoredInput = StoredImage | z.infer<typeof storedModel>;

/** Read by the SQL state machine: the conversions it enqueues when the model succeeds. */
const chained = { output_formats: z.array(convertFormat).optional() };

export const tripoTaskRequest = z.discriminatedUnion("tripo_type", [
  z.object({
    op: z.literal("tripo_task"),
    tripo_type: z.literal("text_to_model"),
    params: textToModelParams,
    inputs: z.tuple([]),
    ...chained,
  }),
  z.object({
    op: z.literal("tripo_task"),
    tripo_type: z.literal("image_to_model"),
    params: imageModelParams,
    inputs: z.tuple([storedImage]),
    ...chained,
  }),
  z.object({
    op: z.literal("tripo_task"),
    tripo_type: z.literal("multiview_to_model"),
    params: imageModelParams,
    // [front, left, back, right]; missing trailing views are sent as {}.
    inputs: z.array(storedImage).min(2).max(4),
    ...chained,
  }),
  z.object({
    op: z.literal("tripo_task"),
    tripo_type: z.literal("refine_model"),
    params: refineParams,
    draft_model_task_id: z.string().min(1),
    inputs: z.tuple([storedModel]),
    ...chained,
  }),
  // Built by the API (generate-convert-model) or by the SQL state machine (a chained
  // conversion, bff.chain_conversions): keep the two shapes equal.
  z.object({
    op: z.literal("tripo_task"),
    tripo_type: z.literal("convert_model"),
    params: convertParams,
    original_model_task_id: z.string().min(1),
    inputs: z.tuple([]),
  }),
]);
export type TripoTaskRequest = z.infer<typeof tripoTaskRequest>;

export const openaiEditRequest = z.object({
  op: z.literal("openai_edit"),
  /** The prompt sent, the style appended as the seed did. */
  prompt: z.string().min(1),
  params: imageParams,
  inputs: z.tuple([storedImage]),
});
export type OpenAIEditRequest = z.infer<typeof openaiEditRequest>;

export const openaiGenerateRequest = z.object({
  op: z.literal("openai_generate"),
  /** The prompt sent, the style appended as for edits. */
  prompt: z.string().min(1),
  params: imageParams,
});
export type OpenAIGenerateRequest = z.infer<typeof openaiGenerateRequest>;
export type OpenAIRequest = OpenAIEditRequest | OpenAIGenerateRequest;

/** Every stored job request; the worker parses `jobs.request` with it (never a cast). */
export const jobRequest = z.union([tripoTaskRequest, openaiEditRequest, openaiGenerateRequest]);
export type JobRequest = z.infer<typeof jobRequest>;

/** zod issues as a short, safe list for the `details` of a 400. */
export function issuesOf(err: z.ZodError): { path: string; message: string }[] {
  return err.issues.slice(0, 20).map((i) => ({
    path: i.path.join(".") || "(body)",
    message: i.message,
  }));
}
