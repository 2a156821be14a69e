// The bodies and results of the BFF's endpoints, as the app sees them (snake_case, as on the
// wire). Until openapi.json exists these mirror supabase/functions/_shared/responses.ts and
// jobs/schemas.ts; then they come from the generated file.

export type JobStatusValue = "pending" | "processing" | "complete" | "failed";
export type Service = "openai" | "tripoai";
export type JobKind =
  | "image_to_image"
  | "text_to_image"
  | "text_to_model"
  | "image_to_model"
  | "sketch_to_model"
  | "refine_model"
  | "convert_model";
export type ConvertFormat = "GLTF" | "USDZ" | "FBX" | "OBJ" | "STL" | "3MF";

/** A generation POST's 202 body. */
export interface Accepted {
  job_id: string;
  /** The same value as job_id (the original app's field name). */
  celery_task_id: string;
  task_id: string;
  status: JobStatusValue;
}

export interface StoredOutput {
  bucket: string;
  path: string;
}

/** A job with nothing that expires: the payload of the live `job` event. */
export interface JobView {
  task_id: string;
  client_task_id: string;
  kind: JobKind;
  service: Service;
  status: JobStatusValue;
  progress: number;
  queue_position: number;
  eta_seconds: number | null;
  outputs: StoredOutput[];
  error: string | null;
  error_code: string | null;
  cost: number;
  source_task_id: string | null;
  /** Increases with every change of the job. */
  seq: number;
  updated_at: string;
}

export interface Conversion {
  job_id: string;
  format: ConvertFormat;
  status: JobStatusValue;
}

/** task-status: the job view plus freshly signed download URLs. */
export interface TaskStatus extends JobView {
  asset_url: string | null;
  asset_urls: string[];
  conversions: Conversion[];
}

export interface Cancelled {
  task_id: string;
  status: "failed";
  cancelled: true;
}

export interface CreditLedgerEntry {
  id: number;
  entry: "grant" | "reserve" | "charge" | "release";
  amount: number;
  job_id: string | null;
  reason: string | null;
  created_at: string;
}

export interface CreditStatement {
  balance: number;
  reserved: number;
  available: number;
  ledger: CreditLedgerEntry[];
  next_before: number | null;
}

export type Prices = Partial<Record<JobKind, number>>;

// --- request bodies --------------------------------------------------------------------------

type TripoStyle =
  | "person:person2cartoon"
  | "animal:venom"
  | "object:clay"
  | "object:steampunk"
  | "object:christmas"
  | "object:barbie"
  | "gold"
  | "ancient_bronze";

interface ModelOptions {
  style?: TripoStyle;
  texture?: boolean;
  pbr?: boolean;
  model_version?: string;
  face_limit?: number;
  auto_size?: boolean;
  texture_quality?: "standard" | "detailed";
  model_seed?: number;
  texture_seed?: number;
  output_formats?: ConvertFormat[];
}

interface ImageModelOptions extends ModelOptions {
  orientation?: "default" | "align_image";
  texture_alignment?: "original_image" | "geometry";
}

interface ImageOptions {
  n?: number;
  background?: "transparent" | "opaque" | "auto";
  size?: "1024x1024" | "1536x1024" | "1024x1536" | "auto";
  quality?: "low" | "medium" | "high" | "auto";
}

export interface ImageToImageBody extends ImageOptions {
  task_id: string;
  prompt: string;
  input_image_asset_url: string;
  style?: string;
}

export interface TextToImageBody extends ImageOptions {
  task_id: string;
  prompt: string;
  style?: string;
}

export interface TextToModelBody extends ModelOptions {
  task_id: string;
  prompt: string;
  negative_prompt?: string;
  image_seed?: number;
}

export interface ImageToModelBody extends ImageModelOptions {
  task_id: string;
  /** 1–4 views in the order [front, left, back, right]. */
  input_image_asset_urls: string[];
}

export interface SketchToModelBody extends ImageModelOptions {
  task_id: string;
  input_sketch_asset_url: string;
}

export interface RefineModelBody {
  task_id: string;
  input_model_asset_url: string;
  draft_model_task_id?: string;
  output_formats?: ConvertFormat[];
}

export interface ConvertModelBody {
  task_id: string;
  input_model_asset_url: string;
  format: ConvertFormat;
  quad?: boolean;
  force_symmetry?: boolean;
  face_limit?: number;
  flatten_bottom?: boolean;
  flatten_bottom_threshold?: number;
  texture_size?: number;
  texture_format?:
    | "BMP"
    | "DPX"
    | "HDR"
    | "JPEG"
    | "OPEN_EXR"
    | "PNG"
    | "TARGA"
    | "TIFF"
    | "WEBP";
  pivot_to_center_bottom?: boolean;
  scale_factor?: number;
  with_animation?: boolean;
  pack_uv?: boolean;
  bake?: boolean;
  part_names?: string[];
  animate_in_place?: boolean;
  export_vertex_colors?: boolean;
  export_orientation?: "+x" | "-x" | "+y" | "-y";
  fbx_preset?: "blender" | "3dsmax" | "mixamo";
}
