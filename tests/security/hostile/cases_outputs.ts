// Hostile cases: the new outputs (SPEC §12) — conversions of what is not the caller's finished
// GLB, formats and options Tripo does not take, chained lists that are not a set of formats,
// and text-to-image bodies out of range. Each refused before any provider call, changing nothing.
import { type Case, own, T2M, type World } from "./world.ts";

const CONV = "generate-convert-model";
const T2I = "generate-text-to-image";
const convert = (extra: Record<string, unknown>) => (w: World) => ({
  task_id: "t",
  input_model_asset_url: w.aModelUrl,
  format: "STL",
  ...extra,
});

export const outputCases: Case[] = [
  // --- convert-model: whose model, which model ----------------------------------------------
  {
    name: "convert another user's model",
    fn: CONV,
    body: (w) => ({ task_id: "t", input_model_asset_url: w.bModelUrl, format: "STL" }),
    status: 400,
    code: "bad_request",
  },
  {
    name: "convert a model not finished (the path it would get)",
    fn: CONV,
    body: (w) => ({
      task_id: "t",
      input_model_asset_url: w.aModelUrl.replace(/[^/]+\.glb$/, `${crypto.randomUUID()}.glb`),
      format: "STL",
    }),
    status: 400,
    code: "bad_request",
  },
  {
    name: "convert an uploaded GLB (not a model of ours)",
    fn: CONV,
    body: (w) => ({ task_id: "t", input_model_asset_url: w.aGlb, format: "USDZ" }),
    status: 400,
    code: "bad_request",
  },
  {
    name: "convert an input image",
    fn: CONV,
    body: (w) => ({ task_id: "t", input_model_asset_url: w.aImage, format: "USDZ" }),
    status: 400,
    code: "bad_request",
  },
  {
    name: "convert with the original task id of another user's model",
    fn: CONV,
    body: (w) => ({ ...convert({})(w), original_model_task_id: w.bDraftId }),
    status: 400,
    code: "validation_failed",
  },
  // --- convert-model: formats and options ------------------------------------------------------
  ...([
    ["convert to GLB", { format: "GLB" }],
    ["convert to a lowercase format", { format: "usdz" }],
    ["convert without a format", { format: undefined }],
    ["convert with an option Tripo does not document", { smart_low_poly: true }],
    ["convert FBX with WEBP textures", { format: "FBX", texture_format: "WEBP" }],
    ["convert STL with vertex colours", { export_vertex_colors: true }],
    ["convert OBJ with an FBX preset", { format: "OBJ", fbx_preset: "mixamo" }],
    ["convert with a negative scale", { scale_factor: -1 }],
    ["convert with face_limit as text", { face_limit: "many" }],
    ["convert with textures of 8192", { texture_size: 8192 }],
    ["convert with an unknown orientation", { export_orientation: "+z" }],
    ["convert with 51 part names", { part_names: Array.from({ length: 51 }, (_, i) => `p${i}`) }],
  ] as [string, Record<string, unknown>][]).map(([name, extra]): Case => ({
    name,
    fn: CONV,
    body: convert(extra),
    status: 400,
    code: "validation_failed",
  })),
  // --- output_formats on the model endpoints ------------------------------------------------
  ...([
    ["output_formats with a duplicate", ["STL", "USDZ", "STL"]],
    ["output_formats with seven entries", ["GLTF", "USDZ", "FBX", "OBJ", "STL", "3MF", "GLTF"]],
    ["output_formats empty", []],
    ["output_formats not a list", "STL"],
    ["output_formats with GLB", ["GLB"]],
    ["output_formats lowercase", ["stl"]],
    ["output_formats with an object", [{ format: "STL" }]],
  ] as [string, unknown][]).map(([name, list]): Case => ({
    name,
    fn: T2M,
    body: { task_id: "t", prompt: "a cup", output_formats: list },
    status: 400,
    code: "validation_failed",
  })),
  {
    name: "output_formats on image-to-image",
    fn: "generate-image-to-image",
    body: (w) => ({
      task_id: "t",
      prompt: "p",
      input_image_asset_url: w.aImage,
      output_formats: ["STL"],
    }),
    status: 400,
    code: "validation_failed",
  },
  // --- text-to-image ---------------------------------------------------------------------------
  ...([
    ["text-to-image without a prompt", { task_id: "t" }],
    ["text-to-image with n = 5", { task_id: "t", prompt: "p", n: 5 }],
    ["text-to-image with a dall-e size", { task_id: "t", prompt: "p", size: "256x256" }],
    ["text-to-image with an input image", {
      task_id: "t",
      prompt: "p",
      input_image_asset_url: own("a.png"),
    }],
    ["text-to-image with control characters", { task_id: "t", prompt: "a\u0000b" }],
    ["text-to-image with response_format", { task_id: "t", prompt: "p", response_format: "url" }],
    ["text-to-image with a prompt of 4001 characters", { task_id: "t", prompt: "x".repeat(4001) }],
  ] as [string, Record<string, unknown>][]).map(([name, body]): Case => ({
    name,
    fn: T2I,
    body,
    status: 400,
    code: "validation_failed",
  })),
];
