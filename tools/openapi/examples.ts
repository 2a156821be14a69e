// Examples for the document: request bodies and success bodies. tests/unit/openapi.test.ts
// parses every one with the zod schema it illustrates, so an example cannot drift from the code.
import type { ComponentName } from "./components.ts";

const JOB = "3f6c2a4e-8b1d-4c7a-9e2f-5a6b7c8d9e01";
const USER = "9b2e7d4c-1a3f-4e5b-8c6d-7e8f9a0b1c2d";
const INPUTS = "http://127.0.0.1:54321/storage/v1/object/authenticated/input-assets/" + USER;
const MODEL = "http://127.0.0.1:54321/storage/v1/object/authenticated/generated-assets/" + USER +
  "/models/model-1/" + JOB + ".glb";

type Examples = Partial<Record<ComponentName, Record<string, unknown>>>;

/** Request examples, by request component; each name becomes an `examples` entry. */
export const REQUEST_EXAMPLES: Examples = {
  TextToModelRequest: {
    minimal: { task_id: "model-1", prompt: "a small wooden robot" },
    with_options: {
      task_id: "model-2",
      prompt: "a ceramic teapot shaped like a whale",
      negative_prompt: "text, logo",
      texture_quality: "detailed",
      pbr: true,
      face_limit: 20000,
      output_formats: ["USDZ", "STL"],
    },
  },
  ImageToModelRequest: {
    one_view: { task_id: "model-3", input_image_asset_urls: [`${INPUTS}/front.png`] },
    multiview: {
      task_id: "model-4",
      input_image_asset_urls: [`${INPUTS}/front.png`, `${INPUTS}/left.png`],
      orientation: "align_image",
    },
  },
  SketchToModelRequest: {
    sketch: { task_id: "model-5", input_sketch_asset_url: `${INPUTS}/sketch.png`, texture: true },
  },
  RefineModelRequest: {
    own_model: { task_id: "model-6", input_model_asset_url: MODEL },
  },
  ConvertModelRequest: {
    to_fbx: {
      task_id: "model-7",
      input_model_asset_url: MODEL,
      format: "FBX",
      texture_format: "PNG",
      fbx_preset: "blender",
    },
  },
  ImageToImageRequest: {
    edit: {
      task_id: "concept-1",
      prompt: "the same chair in brushed steel",
      input_image_asset_url: `${INPUTS}/chair.png`,
      style: "studio photo",
      n: 2,
      background: "transparent",
    },
  },
  TextToImageRequest: {
    generate: { task_id: "concept-2", prompt: "a lamp shaped like a mushroom", size: "1024x1024" },
  },
  GrantRequest: { grant: { user_id: USER, amount: 100, reason: "welcome bonus" } },
  PricesUpdate: { set: { text_to_model: 30, convert_model: 5 } },
};

const VIEW = {
  task_id: JOB,
  client_task_id: "model-1",
  kind: "text_to_model",
  service: "tripoai",
  status: "complete",
  progress: 100,
  queue_position: 0,
  eta_seconds: null,
  outputs: [{ bucket: "generated-assets", path: `${USER}/models/model-1/${JOB}.glb` }],
  error: null,
  error_code: null,
  cost: 30,
  source_task_id: null,
  seq: 7,
  updated_at: "2026-12-02T01:00:00.123456+00:00",
};
const ALL_PRICES = {
  image_to_image: 0,
  text_to_image: 0,
  text_to_model: 30,
  image_to_model: 0,
  sketch_to_model: 0,
  refine_model: 0,
  convert_model: 5,
};

/** Success examples, by response component. */
export const RESPONSE_EXAMPLES: Examples = {
  Accepted: {
    accepted: { job_id: JOB, celery_task_id: JOB, task_id: "model-1", status: "pending" },
  },
  TaskStatus: {
    complete: {
      ...VIEW,
      asset_url: `http://127.0.0.1:54321/storage/v1/object/sign/generated-assets/${USER}/models/` +
        `model-1/${JOB}.glb?token=…`,
      asset_urls: [
        `http://127.0.0.1:54321/storage/v1/object/sign/generated-assets/${USER}/models/` +
        `model-1/${JOB}.glb?token=…`,
      ],
      conversions: [],
    },
  },
  JobView: { complete: VIEW },
  Cancelled: { cancelled: { task_id: JOB, status: "failed", cancelled: true } },
  CreditStatement: {
    statement: {
      balance: 70,
      reserved: 0,
      available: 70,
      ledger: [
        {
          id: 2,
          entry: "charge",
          amount: 30,
          job_id: JOB,
          reason: null,
          created_at: "2026-12-02T01:00:00.123456+00:00",
        },
        {
          id: 1,
          entry: "grant",
          amount: 100,
          job_id: null,
          reason: "welcome bonus",
          created_at: "2026-12-02T00:59:00.654321+00:00",
        },
      ],
      next_before: null,
    },
  },
  Prices: { prices: ALL_PRICES },
  GrantResult: { granted: { entry_id: 1, available: 100 } },
  ProcessJobsAccepted: { accepted: { accepted: true } },
  InvocationSummary: {
    summary: {
      claimed: 2,
      submitted: 1,
      progressed: 1,
      completed: 1,
      failed: 0,
      retried: 0,
      lease_lost: 0,
      errors: 0,
      ms: 412.5,
    },
  },
};

/** As OpenAPI `examples` (name → { value }). */
export function examplesOf(
  name: ComponentName,
  from: Examples,
): Record<string, unknown> | undefined {
  const e = from[name];
  if (!e) return undefined;
  return Object.fromEntries(Object.entries(e).map(([k, value]) => [k, { value }]));
}
