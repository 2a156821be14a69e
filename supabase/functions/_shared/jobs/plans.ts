// What each job kind is: its request schema, provider, rate bucket, the Storage inputs to check,
// the rows it creates and the job request it stores. Adding a kind is one entry here (plus its
// provider step); `satisfies` makes the compiler point at everything else.
import type { z } from "zod";
import type { AssetKind, ProbedInput } from "../storage/inputs.ts";
import {
  type ConvertFormat,
  convertModelBody,
  imageToImageBody,
  imageToModelBody,
  type JobKind,
  type JobRequest,
  type Provider,
  refineModelBody,
  sketchToModelBody,
  type StoredImage,
  type StoredInput,
  textToImageBody,
  textToModelBody,
  TEXTURE_4096_VERSIONS,
} from "./schemas.ts";

export type RateBucket = "image" | "model" | "refine" | "convert";

export interface InputSpec {
  field: string;
  url: string;
  kind: AssetKind;
}

/** The caller's own finished model a job starts from (refine, convert), as found in `models`. */
export interface SourceInfo {
  /** Its provider (Tripo) task id. */
  taskId: string;
  /** Its `models` row (null when named by a draft id only). */
  modelId: string | null;
  /** The model_version it was generated with, when the request named one. */
  modelVersion: string | null;
}

export interface PlanContext {
  source?: SourceInfo;
}

/** A job made from one of the caller's own finished models (refine, convert). */
export interface SourceModel {
  field: string;
  url: string;
  /** The provider task id the caller named, if any (checked to be theirs). */
  taskId?: string;
}

export interface Issue {
  path: string;
  message: string;
}

export interface Plan<B extends z.ZodType<{ task_id: string }>, K extends JobKind = JobKind> {
  kind: K;
  provider: Provider;
  rateBucket: RateBucket;
  body: B;
  /** Rows created with the job (concept images: one per output). */
  outputs(body: z.output<B>): number;
  inputs(body: z.output<B>): InputSpec[];
  source?(body: z.output<B>): SourceModel;
  /** What the provider would refuse about this body given its source model. */
  sourceIssues?(body: z.output<B>, source: SourceInfo): Issue[];
  request(body: z.output<B>, inputs: ProbedInput[], ctx: PlanContext): JobRequest;
  row(body: z.output<B>, ctx: PlanContext): {
    prompt: string | null;
    style: string | null;
    /** Models only: the file format (GLB unless converted) and the model converted from. */
    format?: string;
    sourceModelId?: string | null;
  };
}

export function definePlan<B extends z.ZodType<{ task_id: string }>, K extends JobKind>(
  plan: Plan<B, K>,
): Plan<B, K> {
  return plan;
}

function stored(p: ProbedInput): StoredInput {
  const base = { bucket: p.bucket, path: p.path, size: p.size };
  return p.contentType === "model/gltf-binary"
    ? { ...base, content_type: p.contentType }
    : { ...base, content_type: p.contentType };
}

function storedImages(inputs: ProbedInput[]): StoredImage[] {
  return inputs.map((p) => {
    if (p.contentType === "model/gltf-binary") throw new Error("an image input was expected");
    return { bucket: p.bucket, path: p.path, size: p.size, content_type: p.contentType };
  });
}

/** The given keys of `o` that are set (absent options stay absent, not `undefined`). */
function pick<T extends Record<string, unknown>, K extends keyof T>(
  o: T,
  ...keys: K[]
): Pick<T, K> {
  const out: Partial<Pick<T, K>> = {};
  for (const k of keys) if (o[k] !== undefined) out[k] = o[k];
  return out as Pick<T, K>;
}

/** Conversions to chain after the model (read by the SQL state machine), when asked for. */
function chain(b: { output_formats?: ConvertFormat[] }) {
  return b.output_formats ? { output_formats: b.output_formats } : {};
}

/** The seed's prompt customisation: the style is appended to the prompt. */
function styled(b: { prompt: string; style?: string }): string {
  return b.style ? `${b.prompt} Style: ${b.style}` : b.prompt;
}

function omit<T extends Record<string, unknown>, K extends keyof T>(
  o: T,
  ...keys: K[]
): Omit<T, K> {
  const out = { ...o };
  for (const k of keys) delete out[k];
  return out;
}

export const PLANS = {
  image_to_image: definePlan({
    kind: "image_to_image",
    provider: "openai",
    rateBucket: "image",
    body: imageToImageBody,
    outputs: (b) => b.n,
    inputs: (
      b,
    ) => [{ field: "input_image_asset_url", url: b.input_image_asset_url, kind: "image" }],
    request: (b, inputs) => {
      const [image] = storedImages(inputs);
      return {
        op: "openai_edit",
        prompt: styled(b),
        params: pick(b, "n", "size", "quality", "background"),
        inputs: [image],
      };
    },
    row: (b) => ({ prompt: b.prompt, style: b.style ?? null }),
  }),
  text_to_image: definePlan({
    kind: "text_to_image",
    provider: "openai",
    rateBucket: "image",
    body: textToImageBody,
    outputs: (b) => b.n,
    inputs: () => [],
    request: (b) => ({
      op: "openai_generate",
      prompt: styled(b),
      params: pick(b, "n", "size", "quality", "background"),
    }),
    row: (b) => ({ prompt: b.prompt, style: b.style ?? null }),
  }),
  text_to_model: definePlan({
    kind: "text_to_model",
    provider: "tripo",
    rateBucket: "model",
    body: textToModelBody,
    outputs: () => 1,
    inputs: () => [],
    request: (b) => ({
      op: "tripo_task",
      tripo_type: "text_to_model",
      params: omit(b, "task_id", "output_formats"),
      inputs: [],
      ...chain(b),
    }),
    row: (b) => ({ prompt: b.prompt, style: b.style ?? null }),
  }),
  image_to_model: definePlan({
    kind: "image_to_model",
    provider: "tripo",
    rateBucket: "model",
    body: imageToModelBody,
    outputs: () => 1,
    inputs: (b) =>
      b.input_image_asset_urls.map((url, i) => ({
        field: `input_image_asset_urls[${i}]`,
        url,
        kind: "image" as const,
      })),
    request: (b, inputs) => {
      const params = omit(b, "task_id", "input_image_asset_urls", "output_formats");
      const images = storedImages(inputs);
      // One view: image_to_model. Two to four: multiview_to_model, [front, left, back, right].
      return images.length === 1
        ? {
          op: "tripo_task",
          tripo_type: "image_to_model",
          params,
          inputs: [images[0]],
          ...chain(b),
        }
        : {
          op: "tripo_task",
          tripo_type: "multiview_to_model",
          params,
          inputs: images,
          ...chain(b),
        };
    },
    row: (b) => ({ prompt: null, style: b.style ?? null }),
  }),
  sketch_to_model: definePlan({
    kind: "sketch_to_model",
    provider: "tripo",
    rateBucket: "model",
    body: sketchToModelBody,
    outputs: () => 1,
    inputs: (
      b,
    ) => [{ field: "input_sketch_asset_url", url: b.input_sketch_asset_url, kind: "image" }],
    request: (b, inputs) => ({
      op: "tripo_task",
      tripo_type: "image_to_model",
      params: omit(b, "task_id", "input_sketch_asset_url", "output_formats"),
      inputs: [storedImages(inputs)[0]],
      ...chain(b),
    }),
    row: (b) => ({ prompt: null, style: b.style ?? null }),
  }),
  refine_model: definePlan({
    kind: "refine_model",
    provider: "tripo",
    rateBucket: "refine",
    body: refineModelBody,
    outputs: () => 1,
    inputs: (
      b,
    ) => [{ field: "input_model_asset_url", url: b.input_model_asset_url, kind: "model" }],
    source: (b) => ({
      field: "input_model_asset_url",
      url: b.input_model_asset_url,
      taskId: b.draft_model_task_id,
    }),
    request: (b, inputs, ctx) => {
      const model = stored(inputs[0]);
      if (!ctx.source || model.content_type !== "model/gltf-binary") {
        throw new Error("refine needs the draft task id and a GLB input");
      }
      return {
        op: "tripo_task",
        tripo_type: "refine_model",
        params: {},
        draft_model_task_id: ctx.source.taskId,
        inputs: [model],
        ...chain(b),
      };
    },
    row: () => ({ prompt: null, style: null }),
  }),
  convert_model: definePlan({
    kind: "convert_model",
    provider: "tripo",
    rateBucket: "convert",
    body: convertModelBody,
    outputs: () => 1,
    // Read as the caller, like refine: the model must be theirs and readable.
    inputs: (
      b,
    ) => [{ field: "input_model_asset_url", url: b.input_model_asset_url, kind: "model" }],
    source: (b) => ({ field: "input_model_asset_url", url: b.input_model_asset_url }),
    sourceIssues: (b, source) =>
      b.texture_size !== undefined && b.texture_size > 2048 && source.modelVersion !== null &&
        !TEXTURE_4096_VERSIONS.includes(source.modelVersion)
        ? [{
          path: "texture_size",
          message: `at most 2048 for a model made with ${source.modelVersion}`,
        }]
        : [],
    request: (b, _inputs, ctx) => {
      if (!ctx.source) throw new Error("convert needs its source model");
      return {
        op: "tripo_task",
        tripo_type: "convert_model",
        params: omit(b, "task_id", "input_model_asset_url"),
        original_model_task_id: ctx.source.taskId,
        inputs: [],
      };
    },
    row: (b, ctx) => ({
      prompt: null,
      style: null,
      format: b.format,
      sourceModelId: ctx.source?.modelId ?? null,
    }),
  }),
} satisfies { [K in JobKind]: Plan<z.ZodType<{ task_id: string }>, K> };
