// Request bodies of the five generation endpoints (SPEC §2.1). Strict: unknown fields are
// refused, so a typo never silently drops an option the user paid for.
import { z } from "zod";

const taskId = z.string().regex(
  /^[A-Za-z0-9_-]{1,128}$/,
  "must be 1–128 characters of A–Z, a–z, 0–9, _ or -",
);
const url = z.string().min(1).max(2048);
const seed = z.number().int().min(0).max(2_147_483_647);
/** Control characters other than tab, newline and carriage return. */
export function hasControlChars(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) || c === 0x7f) return true;
  }
  return false;
}
const noControl = (max: number) =>
  z.string().trim().min(1).max(max).refine((s) => !hasControlChars(s), {
    message: "must not contain control characters",
  });

/** Tripo options shared by every model endpoint (only documented parameters). */
const tripoOptions = {
  negative_prompt: noControl(255).optional(),
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

export const imageToImageBody = z.strictObject({
  task_id: taskId,
  prompt: noControl(4000),
  input_image_asset_url: url,
  style: noControl(200).optional(),
  n: z.number().int().min(1).max(4).default(1),
  background: z.enum(["transparent", "opaque", "auto"]).optional(),
  size: z.enum(["1024x1024", "1536x1024", "1024x1536", "auto"]).optional(),
  quality: z.enum(["low", "medium", "high", "auto"]).optional(),
});

export const textToModelBody = z.strictObject({
  task_id: taskId,
  prompt: noControl(1024),
  image_seed: seed.optional(),
  ...tripoOptions,
});

const imageModelOptions = {
  ...tripoOptions,
  orientation: z.enum(["default", "align_image"]).optional(),
  texture_alignment: z.enum(["original_image", "geometry"]).optional(),
};

export const imageToModelBody = z.strictObject({
  task_id: taskId,
  input_image_asset_urls: z.array(url).min(1).max(4),
  ...imageModelOptions,
});

export const sketchToModelBody = z.strictObject({
  task_id: taskId,
  input_sketch_asset_url: url,
  ...imageModelOptions,
});

export const refineModelBody = z.strictObject({
  task_id: taskId,
  input_model_asset_url: url,
  draft_model_task_id: z.string().regex(/^[A-Za-z0-9-]{1,64}$/).optional(),
  prompt: noControl(1024).optional(),
  texture: z.boolean().optional(),
  pbr: z.boolean().optional(),
  texture_quality: z.enum(["standard", "detailed"]).optional(),
  model_version: z.string().regex(/^[A-Za-z0-9._-]{1,40}$/).optional(),
  face_limit: z.number().int().min(48).max(500_000).optional(),
  auto_size: z.boolean().optional(),
});

/** zod issues as a short, safe list for the `details` of a 400. */
export function issuesOf(err: z.ZodError): { path: string; message: string }[] {
  return err.issues.slice(0, 20).map((i) => ({
    path: i.path.join(".") || "(body)",
    message: i.message,
  }));
}
