/**
 * The model files Tripo's `convert_model` produces (provider_apis.md §1.4), generated.
 *
 * Generators (deterministic, no compressor needed): every format is described as a layout, a list
 * of byte segments and "repeat this block N times" segments (./segments.ts), so a file of any size
 * up to hundreds of MB can be streamed without being held in memory, with a Content-Length known
 * up front.
 *   modelLayout(format, size?)            → {format, total, segments, contentType, extension}
 *   makeModel(format, size?)              → the whole file (Uint8Array)
 *   modelStream(format, size, {truncateAt}) → {stream, length}; `truncateAt` fails the stream
 *                                           part-way (a download cut off mid-body)
 * `size` is a target in bytes (default DEFAULT_MODEL_SIZE, a few KB): the file is padded with
 * valid filler (extra vertices / zero triangles / zero buffer bytes) to about that size, never
 * less than the format's minimum (~0.5–2 KB). What each format holds: ./zipped_writers.ts (USDZ,
 * 3MF, OBJ, GLTF) and ./binary_writers.ts (FBX, STL); the checks: ./inspect.ts.
 */
import { fbxSegments, stlSegments } from "./binary_writers.ts";
import { type Segment, segmentsToBytes, segmentStream, segsLength } from "./segments.ts";
import { gltfSegments, objSegments, threeMfSegments, usdzSegments } from "./zipped_writers.ts";

export type ConvertFormat = "GLTF" | "USDZ" | "FBX" | "OBJ" | "STL" | "3MF";
export const CONVERT_FORMATS: readonly ConvertFormat[] = [
  "GLTF",
  "USDZ",
  "FBX",
  "OBJ",
  "STL",
  "3MF",
];
export const DEFAULT_MODEL_SIZE = 4096;

export interface ModelLayout {
  format: ConvertFormat;
  total: number;
  segments: Segment[];
  contentType: string;
  extension: string;
}

const META: Record<ConvertFormat, { contentType: string; extension: string }> = {
  USDZ: { contentType: "model/vnd.usdz+zip", extension: "usdz" },
  "3MF": { contentType: "model/3mf", extension: "3mf" },
  FBX: { contentType: "application/octet-stream", extension: "fbx" },
  STL: { contentType: "model/stl", extension: "stl" },
  OBJ: { contentType: "application/zip", extension: "zip" },
  GLTF: { contentType: "application/zip", extension: "zip" },
};

export function modelLayout(format: ConvertFormat, size = DEFAULT_MODEL_SIZE): ModelLayout {
  const build = {
    USDZ: usdzSegments,
    "3MF": threeMfSegments,
    FBX: fbxSegments,
    STL: stlSegments,
    OBJ: objSegments,
    GLTF: gltfSegments,
  }[format];
  if (!build) throw new Error(`unknown model format ${format}`);
  const segments = build(size);
  return { format, total: segsLength(segments), segments, ...META[format] };
}

export function makeModel(
  format: ConvertFormat,
  size = DEFAULT_MODEL_SIZE,
): Uint8Array<ArrayBuffer> {
  return segmentsToBytes(modelLayout(format, size).segments);
}

export function modelStream(
  format: ConvertFormat,
  size = DEFAULT_MODEL_SIZE,
  opts: { truncateAt?: number } = {},
): { stream: ReadableStream<Uint8Array>; length: number; contentType: string } {
  const l = modelLayout(format, size);
  return { stream: segmentStream(l.segments, opts), length: l.total, contentType: l.contentType };
}
