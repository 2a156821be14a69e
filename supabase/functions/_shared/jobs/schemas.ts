// One schema per job kind, from the request to the provider (SPEC §2.1). The zod schema that
// validates a request body also types the job request stored in `jobs.request` and what the
// provider client receives: a stored request is the body minus what only the BFF needs (the
// client's task_id, input URLs) plus the probed inputs. Strict objects: unknown fields are
// refused, so a typo never silently drops an option the user paid for, and an option a
// provider does not document can never be accepted and then dropped.
import { z } from "zod";

export const JOB_KINDS = [
  "image_to_image",
  "text_to_model",
  "image_to_model",
  "sketch_to_model",
  "refine_model",
] as const;
export type JobKind = (typeof JOB_KINDS)[number];
export type Provider = "openai" | "tripo";

// --- fields ----------------------------------------------------------------------------------

export const taskId = z.string().regex(
  /^[A-Za-z0-9_-]{1,128}$/,
  "must be 1–128 characters of A–Z, a–z, 0–9, _ or -",
);
const assetUrl = z.string().min(1).max(2048);
const seed = z.number().int().min(0).max(2_147_483_647);

/** Control characters other than tab, newline and carriage return. */
export function hasControlChars(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) || c === 0x7f) return true;
  }
  return false;
}
const text = (max: number) =>
  z.string().trim().min(1).max(max).refine((s) => !hasControlChars(s), {
    message: "must not contain control characters",
  });

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

export const textToModelBody = z.strictObject({
  task_id: taskId,
  ...textToModelParams.shape,
});

export const imageToModelBody = z.strictObject({
  task_id: taskId,
  input_image_asset_urls: z.array(assetUrl).min(1).max(4),
  ...imageModelParams.shape,
});

export const sketchToModelBody = z.strictObject({
  task_id: taskId,
  input_sketch_asset_url: assetUrl,
  ...imageModelParams.shape,
});

export const refineModelBody = z.strictObject({
  task_id: taskId,
  input_model_asset_url: assetUrl,
  draft_model_task_id: z.string().regex(/^[A-Za-z0-9-]{1,64}$/).optional(),
});

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

export const tripoTaskRequest = z.discriminatedUnion("tripo_type", [
  z.object({
    op: z.literal("tripo_task"),
    tripo_type: z.literal("text_to_model"),
    params: textToModelParams,
    inputs: z.tuple([]),
  }),
  z.object({
    op: z.literal("tripo_task"),
    tripo_type: z.literal("image_to_model"),
    params: imageModelParams,
    inputs: z.tuple([storedImage]),
  }),
  z.object({
    op: z.literal("tripo_task"),
    tripo_type: z.literal("multiview_to_model"),
    params: imageModelParams,
    // [front, left, back, right]; missing trailing views are sent as {}.
    inputs: z.array(storedImage).min(2).max(4),
  }),
  z.object({
    op: z.literal("tripo_task"),
    tripo_type: z.literal("refine_model"),
    params: refineParams,
    draft_model_task_id: z.string().min(1),
    inputs: z.tuple([storedModel]),
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

/** Every stored job request; the worker parses `jobs.request` with it (never a cast). */
export const jobRequest = z.union([tripoTaskRequest, openaiEditRequest]);
export type JobRequest = z.infer<typeof jobRequest>;

/** zod issues as a short, safe list for the `details` of a 400. */
export function issuesOf(err: z.ZodError): { path: string; message: string }[] {
  return err.issues.slice(0, 20).map((i) => ({
    path: i.path.join(".") || "(body)",
    message: i.message,
  }));
}
