// POST /v2/openapi/task: the fields each task type takes and the checks on their values (an unknown
// field or a bad value → 400/1004), the model versions, and the task types the simulator knows of.
import { CONVERT_FORMATS } from "../formats/layout.ts";
import { TripoError } from "./envelope.ts";

const VERSIONS = [
  "P1-20260311",
  "v3.1-20260211",
  "v3.0-20250812",
  "v2.5-20250123",
  "v2.0-20240919",
  "v1.4-20240625",
  "Turbo-v1.0-20250506",
];
const STYLES = [
  "person:person2cartoon",
  "animal:venom",
  "object:clay",
  "object:steampunk",
  "object:christmas",
  "object:barbie",
  "gold",
  "ancient_bronze",
];

type Check = (v: unknown) => string | null;
const isStr = (max: number, min = 0): Check => (v) =>
  typeof v === "string" && v.length >= min && v.length <= max
    ? null
    : `must be a string of ${min}-${max} characters`;
const isInt = (min: number, max: number): Check => (v) =>
  Number.isInteger(v) && (v as number) >= min && (v as number) <= max
    ? null
    : `must be an integer in [${min}, ${max}]`;
const isBool: Check = (v) => typeof v === "boolean" ? null : "must be a boolean";
const oneOf = (...vals: string[]): Check => (v) =>
  typeof v === "string" && vals.includes(v) ? null : `must be one of ${vals.join("|")}`;
const SEED = isInt(0, 2 ** 31 - 1);
const isNum = (min: number, exclusive = false): Check => (v) =>
  typeof v === "number" && Number.isFinite(v) && (exclusive ? v > min : v >= min)
    ? null
    : `must be a number ${exclusive ? ">" : ">="} ${min}`;
const isNames: Check = (v) =>
  Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === "string" && x.length > 0)
    ? null
    : "must be a non-empty array of part names";

const COMMON: Record<string, Check> = {
  model_version: isStr(64, 1),
  model_seed: SEED,
  texture_seed: SEED,
  face_limit: isInt(1, 2_000_000),
  texture: isBool,
  pbr: isBool,
  texture_quality: oneOf("standard", "detailed", "extreme"),
  geometry_quality: oneOf("standard", "detailed"),
  auto_size: isBool,
  quad: isBool,
  compress: oneOf("geometry"),
  smart_low_poly: isBool,
  generate_parts: isBool,
  export_uv: isBool,
  style: oneOf(...STYLES),
};
const IMAGE_EXTRA: Record<string, Check> = {
  texture_alignment: oneOf("original_image", "geometry"),
  orientation: oneOf("default", "align_image"),
  enable_image_autofix: isBool,
};
const FIELDS: Record<string, Record<string, Check>> = {
  text_to_model: {
    ...COMMON,
    prompt: isStr(1024, 1),
    negative_prompt: isStr(255),
    image_seed: SEED,
  },
  image_to_model: { ...COMMON, ...IMAGE_EXTRA, file: () => null },
  multiview_to_model: {
    ...COMMON,
    ...IMAGE_EXTRA,
    files: () => null,
    orthographic_projection: isBool,
    mode: oneOf("LEFT", "RIGHT"),
  },
  refine_model: { draft_model_task_id: isStr(128, 1) },
  convert_model: {
    original_model_task_id: isStr(128, 1),
    format: oneOf(...CONVERT_FORMATS),
    quad: isBool,
    force_symmetry: isBool,
    face_limit: isInt(1, 2_000_000),
    flatten_bottom: isBool,
    flatten_bottom_threshold: isNum(0),
    texture_size: isInt(1, 4096),
    texture_format: oneOf(
      "BMP",
      "DPX",
      "HDR",
      "JPEG",
      "OPEN_EXR",
      "PNG",
      "TARGA",
      "TIFF",
      "WEBP",
    ),
    pivot_to_center_bottom: isBool,
    scale_factor: isNum(0, true),
    with_animation: isBool,
    pack_uv: isBool,
    bake: isBool,
    part_names: isNames,
    animate_in_place: isBool,
    export_vertex_colors: isBool,
    export_orientation: oneOf("+x", "-x", "+y", "-y"),
    fbx_preset: oneOf("blender", "3dsmax", "mixamo"),
  },
  // {prompt ≤1024, negative_prompt ≤255}; output.generated_image (PNG). Here so a non-model task
  // exists (convert of it → 2006).
  text_to_image: { prompt: isStr(1024, 1), negative_prompt: isStr(255) },
};
const OTHER_DOCUMENTED = new Set([
  "texture_model",
  "animate_prerigcheck",
  "animate_rig",
  "animate_retarget",
  "stylize_model",
  "mesh_segmentation",
  "mesh_completion",
  "highpoly_to_lowpoly",
  "import_model",
  "generate_image",
  "generate_multiview_image",
  "edit_multiview_image",
]);

/** The body's task type and its fields' names and values (1004, 2002, 2015, 2016, 2017). */
export function checkFields(
  b: Record<string, unknown>,
): asserts b is Record<string, unknown> & { type: string } {
  if (typeof b.type !== "string") throw new TripoError(400, 1004, "type is required");
  const spec = FIELDS[b.type];
  if (!spec) {
    if (b.type === "animate_model") throw new TripoError(400, 2016, "Task type deprecated");
    throw new TripoError(
      400,
      2002,
      OTHER_DOCUMENTED.has(b.type)
        ? `Task type ${b.type} is not implemented by the simulator`
        : `Unsupported task type ${b.type}`,
    );
  }
  for (const [k, v] of Object.entries(b)) {
    if (k === "type") continue;
    const check = spec[k];
    if (!check) throw new TripoError(400, 1004, `Unknown parameter ${k} for ${b.type}`);
    const err = check(v);
    if (err) throw new TripoError(400, 1004, `${k} ${err}`);
  }
  if (typeof b.model_version === "string") {
    if (b.model_version === "v1.3-20240522") {
      throw new TripoError(400, 2015, "The model version is deprecated");
    }
    if (!VERSIONS.includes(b.model_version)) {
      throw new TripoError(400, 2017, "Invalid model_version");
    }
    if (b.type === "multiview_to_model" && /^(Turbo|v1\.4)/.test(b.model_version)) {
      throw new TripoError(400, 2017, "model_version not supported for multiview_to_model");
    }
  }
  if (typeof b.prompt === "string" && /\p{Extended_Pictographic}/u.test(b.prompt)) {
    throw new TripoError(400, 1004, "prompt must not contain emoji");
  }
}
