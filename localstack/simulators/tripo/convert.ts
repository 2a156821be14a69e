/**
 * convert_model (post-process.md "Conversion"): {type, original_model_task_id, format:
 *   GLTF|USDZ|FBX|OBJ|STL|3MF, options…}. Options: quad, force_symmetry, flatten_bottom,
 *   pivot_to_center_bottom, with_animation, pack_uv, bake, animate_in_place (booleans);
 *   face_limit (int ≥ 1); flatten_bottom_threshold (number ≥ 0); scale_factor (number > 0);
 *   texture_size (int 1–4096, ≤ 2048 when the original's model_version is before
 *   v2.0-20240919); texture_format BMP|DPX|HDR|JPEG|OPEN_EXR|PNG|TARGA|TIFF|WEBP (JPEG|PNG for
 *   FBX); part_names (non-empty string array); export_vertex_colors (true only with OBJ/GLTF);
 *   export_orientation +x|-x|+y|-y; fbx_preset blender|3dsmax|mixamo. Anything else, a bad
 *   value, a missing format/original_model_task_id → 400/1004. Original unknown or another
 *   key's → 404/2001; original not a model task convert takes (text/image/multiview/refine/
 *   texture/import/animate_rig/animate_retarget/convert; e.g. a text_to_image task), or a rigged
 *   one to OBJ/STL/3MF → 400/2006; original not `success` → 400/2007; converting a convert
 *   task with any option besides `format` → 400/1004. Lifecycle and concurrency as any task
 *   (queueMs/runMs). On success `output.model` is a short-lived URL of a whole file of that
 *   format (see ../formats/layout.ts; size `convertSize`, default 4 KB). Its faults: convert has no
 *   prompt, so (a) markers named `convert-X` in the ORIGINAL task's prompt/negative_prompt/file
 *   name/url act as marker X on every convert of it (the original itself ignores them):
 *   [sim:convert-fail], [sim:convert-banned] (400/2008 at create), [sim:convert-banned-late],
 *   [sim:convert-expired], [sim:convert-cancelled], [sim:convert-unknown], [sim:convert-stuck],
 *   [sim:convert-slow=MS], [sim:convert-size=BYTES] (output size, ≤ 200 MB),
 *   [sim:convert-credits], [sim:convert-audit], [sim:convert-500], [sim:convert-cap]; (b) faults
 *   with `"taskType":"convert_model"` on `POST /v2/openapi/task` (any kind, including
 *   `"kind":"outcome","outcome":"failed|banned|expired|…","runMs":MS`); (c) nextOutcomes,
 *   `stuck`, and POST /__sim/tasks/{id}, as for every task.
 * The options' value checks are in ./fields.ts; the rules here need the original task.
 */
import { CONVERT_FORMATS } from "../formats/layout.ts";
import { parseMarkers } from "../mod.ts";
import { TripoError } from "./envelope.ts";
import type { SimTask, TripoState } from "./state.ts";
import { statusOf } from "./tasks.ts";

/** Originals convert_model takes (post-process.md); the sim implements the first four + convert. */
const CONVERT_SOURCES = new Set([
  "text_to_model",
  "image_to_model",
  "multiview_to_model",
  "refine_model",
  "texture_model",
  "import_model",
  "animate_rig",
  "animate_retarget",
  "convert_model",
]);
const RIGGED = new Set(["animate_rig", "animate_retarget"]);
/** model_versions at or after v2.0-20240919 (texture_size up to 4096; 2048 before). */
const V2_PLUS = new Set([
  "P1-20260311",
  "v3.1-20260211",
  "v3.0-20250812",
  "v2.5-20250123",
  "v2.0-20240919",
]);

/** convert_model's rules that need the original task (2001, 2006, 2007, then 1004). */
export function checkConvert(
  s: TripoState,
  b: Record<string, unknown>,
  keyId: string,
): SimTask {
  if (b.original_model_task_id === undefined) {
    throw new TripoError(400, 1004, "original_model_task_id is required");
  }
  if (b.format === undefined) {
    throw new TripoError(400, 1004, `format is required (${CONVERT_FORMATS.join("|")})`);
  }
  const orig = s.tasks.get(String(b.original_model_task_id));
  if (!orig || orig.keyId !== keyId) {
    throw new TripoError(
      404,
      2001,
      "Task not found.",
      "The original model task does not exist or does not belong to the current user.",
    );
  }
  if (
    !CONVERT_SOURCES.has(orig.type) ||
    (RIGGED.has(orig.type) && ["OBJ", "STL", "3MF"].includes(String(b.format)))
  ) {
    throw new TripoError(
      400,
      2006,
      "The type of the input original task is invalid.",
      "Please provide a valid task.",
    );
  }
  if (statusOf(orig) !== "success") {
    throw new TripoError(
      400,
      2007,
      "The status of the original task is not success.",
      "Use a successful original model task.",
    );
  }
  if (orig.type === "convert_model") {
    const extra = Object.keys(b).filter((k) =>
      !["type", "original_model_task_id", "format"].includes(k)
    );
    if (extra.length) {
      throw new TripoError(
        400,
        1004,
        `Converting a converted model supports only the format parameter (got ${extra[0]})`,
      );
    }
  }
  if (b.format === "FBX" && b.texture_format !== undefined) {
    if (!["JPEG", "PNG"].includes(String(b.texture_format))) {
      throw new TripoError(400, 1004, "texture_format for FBX must be JPEG or PNG");
    }
  }
  if (b.export_vertex_colors === true && !["OBJ", "GLTF"].includes(String(b.format))) {
    throw new TripoError(400, 1004, "export_vertex_colors can only be used with OBJ or GLTF");
  }
  const maxTexture = V2_PLUS.has(orig.modelVersion) ? 4096 : 2048;
  if (typeof b.texture_size === "number" && b.texture_size > maxTexture) {
    throw new TripoError(
      400,
      1004,
      `texture_size must not exceed ${maxTexture} for model_version ${orig.modelVersion}`,
    );
  }
  return orig;
}

/** A convert's markers: those named `convert-X` in its original's texts, as marker X. */
export function convertMarkers(orig: SimTask): Map<string, string> {
  return new Map(
    [...parseMarkers(...orig.markerTexts)]
      .filter(([k]) => k.startsWith("convert-"))
      .map(([k, v]) => [k.slice("convert-".length), v]),
  );
}
