/**
 * Tripo3D openapi v2 simulator (local stand-in; never imported by functions).
 * Served under `/v2/openapi` (TRIPO_API_BASE_URL = `${url}/v2/openapi`); output files under
 * `/files/…`; the control API under `/__sim/…`. Wire format per shared/reference/provider_apis.md §1.
 *
 * Provider API
 *   POST /v2/openapi/task          JSON {type,…}: text_to_model | image_to_model |
 *                                  multiview_to_model | refine_model | convert_model |
 *                                  text_to_image (others → 400/2002)
 *   GET  /v2/openapi/task/{id}     task object; lifecycle queued → running → final
 *   POST /v2/openapi/upload        multipart `file` (png/jpeg/webp by magic bytes) → {image_token}
 *   POST /v2/openapi/upload/sts    same as /upload
 *   GET  /v2/openapi/user/balance  {balance, frozen}
 *   GET  /files/{token}/{name}     output download (no auth; 403 once its TTL is over)
 * Every response has `X-Tripo-Trace-ID`. Auth: `Authorization: Bearer tsk_…` else 401/1002.
 * Concurrency cap: queued+running tasks per key ≥ cap → 429/2000 with `Retry-After`.
 *
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
 *   format (see ./formats/; size `convertSize`, default 4 KB). Its faults: convert has no
 *   prompt, so (a) markers named `convert-X` in the ORIGINAL task's prompt/negative_prompt/file
 *   name/url act as marker X on every convert of it (the original itself ignores them):
 *   [sim:convert-fail], [sim:convert-banned] (400/2008 at create), [sim:convert-banned-late],
 *   [sim:convert-expired], [sim:convert-cancelled], [sim:convert-unknown], [sim:convert-stuck],
 *   [sim:convert-slow=MS], [sim:convert-size=BYTES] (output size, ≤ 200 MB),
 *   [sim:convert-credits], [sim:convert-audit], [sim:convert-500], [sim:convert-cap]; (b) faults
 *   with `"taskType":"convert_model"` on `POST /v2/openapi/task` (any kind, including
 *   `"kind":"outcome","outcome":"failed|banned|expired|…","runMs":MS`); (c) nextOutcomes,
 *   `stuck`, and POST /__sim/tasks/{id}, as for every task.
 * text_to_image: {prompt ≤1024, negative_prompt ≤255}; output.generated_image (PNG). Here so a
 *   non-model task exists (convert of it → 2006).
 *
 * Prompt markers (in prompt / negative_prompt, an uploaded file's name, or an input `url`;
 * `[sim:x]` or `__sim-x__`):
 *   [sim:fail]        task ends `failed`, error_code 1001
 *   [sim:banned]      POST /task answers 400/2008      [sim:banned-late] task ends `banned`
 *   [sim:expired]     task ends `expired`              [sim:cancelled]   task ends `cancelled`
 *   [sim:unknown]     status `unknown` while running, then success
 *   [sim:stuck]       task stays `running` forever
 *   [sim:slow=MS]     running phase lasts MS           [sim:glb=BYTES]   output GLB size
 *   [sim:credits]     403/2010 at create   [sim:audit] 500/2014   [sim:500] 500/1000   [sim:cap] 429/2000
 *
 * Control API (JSON)
 *   GET  /__sim/requests?since=SEQ&method=POST&path=/v2/openapi/task&contains=TEXT
 *        → {requests:[{seq,time,method,path,query,authOk,keyId,status,fault,body}], last}
 *        (`body` is a summary: JSON with long strings cut, multipart parts as name/filename/
 *        type/size; never the Authorization header)
 *   GET  /__sim/stats   → {taskPosts, tasksCreated, uploads, taskGets, downloads}
 *   GET  /__sim/tasks   → {tasks:[{task_id,type,status,outcome,keyId,prompt,original,format,
 *                                  created}]}
 *   POST /__sim/tasks/{id}  {"outcome":"success|failed|banned|expired|cancelled|unknown|stuck",
 *                            "finish":true}  force a task's fate (finish = end now)
 *   GET  /__sim/config  → current config
 *   POST /__sim/config  merge: {queueMs, runMs, cap, outputTtlSec, glbSize, convertSize,
 *                       retryAfterSec,
 *                       stuck (all new tasks stuck), refineVersionCheck, faults:[…] (replace;
 *                       see ./mod.ts), nextOutcomes:["failed",…] (consumed by the next tasks)}
 *   POST /__sim/reset   {} everything (tasks, uploads, log, config, faults); {"scope":"log"} log only
 */
import { glbStream } from "./glb.ts";
import { makePng, sniffImage } from "./images.ts";
import {
  CONVERT_FORMATS,
  type ConvertFormat,
  DEFAULT_MODEL_SIZE,
  modelLayout,
} from "./formats/layout.ts";
import { segmentStream } from "./formats/segments.ts";
import {
  brokenResponse,
  FaultEngine,
  handleControl,
  json,
  keyFingerprint,
  LogEntry,
  parseMarkers,
  RequestLog,
  serveSimulator,
  type SimFault,
  sleep,
  summarize,
} from "./mod.ts";

export type TripoOutcome =
  | "success"
  | "failed"
  | "banned"
  | "expired"
  | "cancelled"
  | "unknown"
  | "stuck";

export interface TripoSimConfig {
  queueMs: number;
  runMs: number;
  cap: number;
  outputTtlSec: number;
  glbSize: number;
  /** Bytes of convert_model outputs (about; each format has a small minimum). */
  convertSize: number;
  retryAfterSec: number;
  stuck: boolean;
  refineVersionCheck: boolean;
  faults: SimFault[];
  nextOutcomes: TripoOutcome[];
}

export interface TripoSimOptions {
  publicUrl: string;
  fetchInput?: typeof fetch;
  config?: Partial<TripoSimConfig>;
}

const DEFAULTS: Omit<TripoSimConfig, "faults" | "nextOutcomes"> = {
  queueMs: 400,
  runMs: 1600,
  cap: 10,
  outputTtlSec: 300,
  glbSize: 64 * 1024,
  convertSize: DEFAULT_MODEL_SIZE,
  retryAfterSec: 5,
  stuck: false,
  refineVersionCheck: false,
};

const BASE = "/v2/openapi";
const MAX_GLB = 200 * 1024 * 1024;
const OUTCOMES: TripoOutcome[] = [
  "success",
  "failed",
  "banned",
  "expired",
  "cancelled",
  "unknown",
  "stuck",
];

interface SimTask {
  id: string;
  keyId: string;
  type: string;
  input: Record<string, unknown>;
  createdMs: number;
  queueMs: number;
  runMs: number;
  outcome: TripoOutcome;
  glbSize: number;
  finishedAtMs?: number;
  modelVersion: string;
  /** Texts its markers came from (a convert keeps its original's, for `convert-` markers). */
  markerTexts: string[];
  /** convert_model: the output format and its size. */
  format?: ConvertFormat;
  outSize: number;
}

interface Upload {
  keyId: string;
  kind: string;
  size: number;
  filename: string;
}

interface OutFile {
  taskId: string;
  kind: "glb" | "png" | ConvertFormat;
  expiresMs: number;
  size: number;
}

class TripoError {
  constructor(
    readonly status: number,
    readonly code: number,
    readonly message: string,
    readonly suggestion = "",
    readonly headers: Record<string, string> = {},
  ) {}
}

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
  text_to_image: { prompt: isStr(1024, 1), negative_prompt: isStr(255) },
};
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

export function createTripoSimulator(opts: TripoSimOptions) {
  const publicUrl = opts.publicUrl.replace(/\/+$/, "");
  const fetchInput = opts.fetchInput ?? fetch;
  const initial = { ...DEFAULTS, ...opts.config };
  let config: TripoSimConfig = { ...initial, faults: [], nextOutcomes: [] };
  const faults = new FaultEngine();
  const log = new RequestLog();
  let tasks = new Map<string, SimTask>();
  let uploads = new Map<string, Upload>();
  let files = new Map<string, OutFile>();
  let stats = { taskPosts: 0, tasksCreated: 0, uploads: 0, taskGets: 0, downloads: 0 };

  function reset() {
    config = { ...initial, faults: [], nextOutcomes: [] };
    faults.set([]);
    log.clear();
    tasks = new Map();
    uploads = new Map();
    files = new Map();
    stats = { taskPosts: 0, tasksCreated: 0, uploads: 0, taskGets: 0, downloads: 0 };
  }

  function envelopeError(e: TripoError, trace: string): Response {
    return json(e.status, { code: e.code, message: e.message, suggestion: e.suggestion }, {
      "X-Tripo-Trace-ID": trace,
      ...e.headers,
    });
  }

  function ok(data: unknown): Response {
    return json(200, { code: 0, data });
  }

  function capError(): TripoError {
    return new TripoError(
      429,
      2000,
      "You have exceeded the limit of generation",
      "Try again later. You can also check `Retry-After` header.",
      { "Retry-After": String(config.retryAfterSec) },
    );
  }

  function statusOf(t: SimTask, now = Date.now()): string {
    if (t.finishedAtMs !== undefined && now >= t.finishedAtMs) {
      return t.outcome === "unknown" || t.outcome === "stuck" ? "success" : t.outcome;
    }
    const age = now - t.createdMs;
    if (age < t.queueMs) return "queued";
    if (t.outcome === "stuck") return "running";
    if (age < t.queueMs + t.runMs) return t.outcome === "unknown" ? "unknown" : "running";
    return t.outcome === "unknown" ? "success" : t.outcome;
  }

  const isActive = (s: string) => s === "queued" || s === "running" || s === "unknown";

  function mintFile(taskId: string, kind: OutFile["kind"], size: number, name: string): string {
    if (files.size > 20000) {
      const now = Date.now();
      for (const [k, f] of files) if (f.expiresMs < now) files.delete(k);
    }
    const token = crypto.randomUUID().replaceAll("-", "");
    files.set(token, { taskId, kind, size, expiresMs: Date.now() + config.outputTtlSec * 1000 });
    const exp = Math.floor((Date.now() + config.outputTtlSec * 1000) / 1000);
    return `${publicUrl}/files/${token}/${name}?Expires=${exp}&Signature=sim`;
  }

  function taskView(t: SimTask) {
    const now = Date.now();
    const status = statusOf(t, now);
    const age = now - t.createdMs;
    const base = {
      task_id: t.id,
      type: t.type,
      status,
      input: t.input,
      output: {} as Record<string, unknown>,
      progress: 0,
      create_time: Math.floor(t.createdMs / 1000),
    };
    if (status === "queued") {
      const ahead = [...tasks.values()].filter((o) =>
        o.createdMs < t.createdMs && statusOf(o, now) === "queued"
      ).length;
      return { ...base, queuing_num: ahead, running_left_time: Math.ceil(t.runMs / 1000) };
    }
    if (status === "running" || status === "unknown") {
      const runAge = age - t.queueMs;
      const progress = t.outcome === "stuck"
        ? Math.min(99, 50 + Math.floor(runAge / 1000))
        : Math.max(1, Math.min(99, Math.floor((100 * runAge) / Math.max(1, t.runMs))));
      const left = t.outcome === "stuck" ? 30 : Math.max(0, Math.ceil((t.runMs - runAge) / 1000));
      return { ...base, progress, queuing_num: 0, running_left_time: left };
    }
    if (status === "success") {
      const output: Record<string, unknown> = {};
      if (t.format) {
        const ext = modelLayout(t.format, 0).extension;
        output.model = mintFile(t.id, t.format, t.outSize, `${t.id}.${ext}`);
      } else if (t.type === "text_to_image") {
        output.generated_image = mintFile(t.id, "png", 0, `${t.id}.png`);
      } else {
        const pbr = t.input.pbr !== false;
        output.model = mintFile(t.id, "glb", t.glbSize, `${t.id}.glb`);
        if (pbr) output.pbr_model = mintFile(t.id, "glb", t.glbSize, `${t.id}_pbr.glb`);
        output.rendered_image = mintFile(t.id, "png", 0, `${t.id}.png`);
      }
      return { ...base, output, progress: 100, queuing_num: -1, running_left_time: -1 };
    }
    const errorCode = status === "banned" ? 2008 : status === "expired" ? 2018 : 1001;
    return {
      ...base,
      progress: 100,
      queuing_num: -1,
      running_left_time: -1,
      error_code: errorCode,
      error_msg: status === "banned"
        ? "The content violates our content policy"
        : status === "expired"
        ? "The task expired in the queue"
        : status === "cancelled"
        ? "The task was cancelled"
        : "Generation failed",
      result: {},
    };
  }

  async function auth(req: Request, entry: LogEntry): Promise<string> {
    const h = req.headers.get("authorization") ?? "";
    const m = h.match(/^Bearer\s+(\S+)$/i);
    if (!m || !m[1].startsWith("tsk_") || m[1].length < 8) {
      entry.authOk = false;
      throw new TripoError(
        401,
        1002,
        "Authentication failed",
        "Check that your API key is correct and starts with tsk_",
      );
    }
    entry.authOk = true;
    entry.keyId = await keyFingerprint(m[1]);
    return entry.keyId;
  }

  async function resolveFile(
    keyId: string,
    f: unknown,
    field: string,
    markerTexts: string[],
  ): Promise<void> {
    if (!f || typeof f !== "object" || Array.isArray(f)) {
      throw new TripoError(400, 1004, `${field} must be a file object`);
    }
    const o = f as Record<string, unknown>;
    for (const k of Object.keys(o)) {
      if (!["type", "file_token", "url", "object"].includes(k)) {
        throw new TripoError(400, 1004, `Unknown parameter ${field}.${k}`);
      }
    }
    if (o.type !== undefined && typeof o.type !== "string") {
      throw new TripoError(400, 1004, `${field}.type must be a string`);
    }
    const sources = ["file_token", "url", "object"].filter((k) => o[k] !== undefined);
    if (sources.length !== 1) {
      throw new TripoError(400, 1004, `${field} needs exactly one of file_token, url, object`);
    }
    if (o.file_token !== undefined) {
      const up = typeof o.file_token === "string" ? uploads.get(o.file_token) : undefined;
      if (!up || up.keyId !== keyId) {
        throw new TripoError(400, 2003, `${field}.file_token does not refer to an uploaded file`);
      }
      markerTexts.push(up.filename);
      return;
    }
    if (o.url !== undefined) {
      if (typeof o.url !== "string" || !/^https?:\/\//.test(o.url)) {
        throw new TripoError(400, 1004, `${field}.url must be an http(s) URL`);
      }
      markerTexts.push(o.url);
      let bytes: Uint8Array;
      try {
        const r = await fetchInput(o.url, { signal: AbortSignal.timeout(15000) });
        if (!r.ok) {
          await r.body?.cancel();
          throw new Error(`status ${r.status}`);
        }
        bytes = new Uint8Array(await r.arrayBuffer());
      } catch (e) {
        throw new TripoError(
          400,
          1004,
          `${field}.url could not be fetched (${(e as Error).message})`,
        );
      }
      if (bytes.length === 0) throw new TripoError(400, 2003, `${field}: input file is empty`);
      if (bytes.length > 20 * 1024 * 1024) {
        throw new TripoError(400, 1004, `${field}: file exceeds 20 MB`);
      }
      if (!sniffImage(bytes)) {
        throw new TripoError(400, 2004, `${field}: unsupported file type`);
      }
      return;
    }
    const obj = o.object as Record<string, unknown> | undefined;
    if (!obj || typeof obj.bucket !== "string" || typeof obj.key !== "string") {
      throw new TripoError(400, 1004, `${field}.object needs bucket and key`);
    }
    throw new TripoError(404, 2019, "File not found in storage");
  }

  /** convert_model's rules that need the original task (2001, 2006, 2007, then 1004). */
  function checkConvert(b: Record<string, unknown>, keyId: string): SimTask {
    if (b.original_model_task_id === undefined) {
      throw new TripoError(400, 1004, "original_model_task_id is required");
    }
    if (b.format === undefined) {
      throw new TripoError(400, 1004, `format is required (${CONVERT_FORMATS.join("|")})`);
    }
    const orig = tasks.get(String(b.original_model_task_id));
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

  async function createTask(
    req: Request,
    entry: LogEntry,
    fault: SimFault | undefined,
    bodyText: string | undefined,
  ): Promise<Response> {
    stats.taskPosts++;
    const keyId = await auth(req, entry);
    let body: unknown;
    try {
      body = JSON.parse(bodyText ?? await req.text());
    } catch {
      throw new TripoError(400, 1003, "The request body is malformed");
    }
    entry.body = summarize(body);
    if (!body || typeof body !== "object" || Array.isArray(body)) {
      throw new TripoError(400, 1003, "The request body must be a JSON object");
    }
    const b = body as Record<string, unknown>;
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
    const markerTexts: string[] = [];
    for (const k of ["prompt", "negative_prompt"]) {
      if (typeof b[k] === "string") markerTexts.push(b[k] as string);
    }
    if (
      (b.type === "text_to_model" || b.type === "text_to_image") && typeof b.prompt !== "string"
    ) {
      throw new TripoError(400, 1004, "prompt is required");
    }
    if (b.type === "image_to_model") {
      if (b.file === undefined) throw new TripoError(400, 1004, "file is required");
      await resolveFile(keyId, b.file, "file", markerTexts);
    }
    if (b.type === "multiview_to_model") {
      if (!Array.isArray(b.files) || b.files.length !== 4) {
        throw new TripoError(
          400,
          1004,
          "files must have exactly 4 slots [front, left, back, right]",
        );
      }
      let present = 0;
      for (let i = 0; i < 4; i++) {
        const slot = b.files[i];
        const empty = slot && typeof slot === "object" && !Array.isArray(slot) &&
          Object.keys(slot).length === 0;
        if (empty) {
          if (i === 0) throw new TripoError(400, 1004, "files[0] (front view) is required");
          continue;
        }
        await resolveFile(keyId, slot, `files[${i}]`, markerTexts);
        present++;
      }
      if (present < 2) {
        throw new TripoError(400, 1004, "multiview_to_model needs at least 2 images");
      }
    }
    let modelVersion = typeof b.model_version === "string" ? b.model_version : "v2.5-20250123";
    // Texts whose markers later tasks built on this one inherit (`convert-` markers).
    let taskMarkerTexts = markerTexts;
    if (b.type === "refine_model") {
      const draft = tasks.get(String(b.draft_model_task_id));
      if (!draft || draft.keyId !== keyId) throw new TripoError(404, 2001, "Task not found");
      if (!["text_to_model", "image_to_model", "multiview_to_model"].includes(draft.type)) {
        throw new TripoError(400, 2006, "The original task is not a draft model task");
      }
      if (config.refineVersionCheck && draft.modelVersion >= "v2.0-20240919") {
        throw new TripoError(400, 2006, "Refine is not supported for this model version");
      }
      if (statusOf(draft) !== "success") {
        throw new TripoError(400, 2007, "The original task status is not success");
      }
      modelVersion = draft.modelVersion;
      taskMarkerTexts = draft.markerTexts;
    }
    let marks = parseMarkers(...markerTexts);
    let format: ConvertFormat | undefined;
    if (b.type === "convert_model") {
      const orig = checkConvert(b, keyId);
      format = b.format as ConvertFormat;
      modelVersion = orig.modelVersion;
      taskMarkerTexts = orig.markerTexts;
      marks = new Map(
        [...parseMarkers(...orig.markerTexts)]
          .filter(([k]) => k.startsWith("convert-"))
          .map(([k, v]) => [k.slice("convert-".length), v]),
      );
    }
    if (marks.has("banned")) {
      throw new TripoError(400, 2008, "The request was rejected by the content policy");
    }
    if (marks.has("credits")) throw new TripoError(403, 2010, "Not enough credits");
    if (marks.has("audit")) throw new TripoError(500, 2014, "Audit service error");
    if (marks.has("500")) throw new TripoError(500, 1000, "Unknown server error");
    if (marks.has("cap")) throw capError();
    const now = Date.now();
    const active =
      [...tasks.values()].filter((t) => t.keyId === keyId && isActive(statusOf(t, now))).length;
    if (active >= config.cap) throw capError();

    let outcome: TripoOutcome = "success";
    if (fault?.kind === "outcome") outcome = (fault.outcome ?? "failed") as TripoOutcome;
    else if (marks.has("fail")) outcome = "failed";
    else if (marks.has("banned-late")) outcome = "banned";
    else if (marks.has("expired")) outcome = "expired";
    else if (marks.has("cancelled")) outcome = "cancelled";
    else if (marks.has("unknown")) outcome = "unknown";
    else if (marks.has("stuck")) outcome = "stuck";
    else if (config.nextOutcomes.length) outcome = config.nextOutcomes.shift()!;
    if (config.stuck || fault?.kind === "stuck") outcome = "stuck";
    const slow = Number(marks.get("slow"));
    let runMs = slow > 0 ? slow : config.runMs;
    if (fault?.kind === "outcome" && typeof fault.runMs === "number" && fault.runMs >= 0) {
      runMs = fault.runMs;
    }
    const glb = Number(marks.get("glb"));
    const outSize = Number(marks.get("size"));
    const task: SimTask = {
      id: crypto.randomUUID(),
      keyId,
      type: b.type,
      input: b,
      createdMs: now,
      queueMs: config.queueMs,
      runMs,
      outcome,
      glbSize: Math.min(MAX_GLB, glb > 0 ? glb : config.glbSize),
      modelVersion,
      markerTexts: taskMarkerTexts,
      format,
      outSize: Math.min(MAX_GLB, outSize > 0 ? outSize : config.convertSize),
    };
    tasks.set(task.id, task);
    stats.tasksCreated++;
    return ok({ task_id: task.id });
  }

  async function getTask(req: Request, entry: LogEntry, id: string): Promise<Response> {
    stats.taskGets++;
    const keyId = await auth(req, entry);
    const t = tasks.get(decodeURIComponent(id));
    if (!t || t.keyId !== keyId) throw new TripoError(404, 2001, "Task not found");
    return ok(taskView(t));
  }

  async function upload(req: Request, entry: LogEntry): Promise<Response> {
    const keyId = await auth(req, entry);
    let form: FormData;
    try {
      form = await req.formData();
    } catch {
      throw new TripoError(400, 1003, "Expected a multipart/form-data body");
    }
    const parts: unknown[] = [];
    for (const [name, v] of form.entries()) {
      parts.push(
        typeof v === "string"
          ? { name, value: summarize(v) }
          : { name, filename: v.name, type: v.type, size: v.size },
      );
    }
    entry.body = { parts };
    const file = form.get("file");
    if (!(file instanceof File)) throw new TripoError(400, 1003, "Missing multipart field file");
    const bytes = new Uint8Array(await file.arrayBuffer());
    if (bytes.length === 0) throw new TripoError(400, 2003, "The input file is empty");
    if (bytes.length > 20 * 1024 * 1024) throw new TripoError(400, 1004, "File exceeds 20 MB");
    const kind = sniffImage(bytes);
    if (!kind) {
      throw new TripoError(400, 2004, "Unsupported file type; use webp, jpeg or png");
    }
    const token = crypto.randomUUID();
    uploads.set(token, { keyId, kind, size: bytes.length, filename: file.name });
    stats.uploads++;
    return ok({ image_token: token });
  }

  function download(req: Request, token: string, fault: SimFault | undefined): Response {
    stats.downloads++;
    const f = files.get(token);
    if (!f) return new Response("Not Found", { status: 404 });
    if (Date.now() > f.expiresMs) {
      return new Response(
        '<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code>' +
          "<Message>Request has expired</Message></Error>",
        { status: 403, headers: { "content-type": "application/xml" } },
      );
    }
    if (f.kind === "png") {
      const png = makePng(64, 64, 7);
      return new Response(req.method === "HEAD" ? null : png, {
        headers: { "content-type": "image/png", "content-length": String(png.length) },
      });
    }
    if (f.kind !== "glb") {
      const layout = modelLayout(f.kind, f.size);
      const headers = {
        "content-type": layout.contentType,
        "content-length": String(layout.total),
      };
      if (req.method === "HEAD") return new Response(null, { headers });
      const cut = fault?.kind === "truncate"
        ? fault.truncateAt ?? Math.floor(layout.total / 2)
        : undefined;
      return new Response(segmentStream(layout.segments, { truncateAt: cut }), { headers });
    }
    const truncateAt = fault?.kind === "truncate"
      ? fault.truncateAt ?? Math.floor(f.size / 2)
      : undefined;
    const { stream, length } = glbStream(f.size, { truncateAt });
    if (req.method === "HEAD") {
      void stream.cancel();
      return new Response(null, {
        headers: { "content-type": "model/gltf-binary", "content-length": String(length) },
      });
    }
    return new Response(stream, {
      headers: { "content-type": "model/gltf-binary", "content-length": String(length) },
    });
  }

  function control(req: Request, url: URL): Promise<Response> {
    const p = url.pathname;
    return handleControl(req, url, {
      log,
      stats,
      faults,
      config: () => ({ ...config }),
      applyConfig: (b) => {
        if (Array.isArray(b.faults)) checkFaults(b.faults);
        if (Array.isArray(b.nextOutcomes)) checkOutcomes(b.nextOutcomes);
        for (const k of Object.keys(DEFAULTS) as (keyof typeof DEFAULTS)[]) {
          if (b[k] !== undefined) (config as unknown as Record<string, unknown>)[k] = b[k];
        }
        config.glbSize = Math.min(MAX_GLB, config.glbSize);
        config.convertSize = Math.min(MAX_GLB, config.convertSize);
        if (Array.isArray(b.nextOutcomes)) config.nextOutcomes = [...b.nextOutcomes];
      },
      reset,
      // Tripo's own routes: the task list, and forcing a task's fate.
      extra: async (readJson) => {
        if (p === "/__sim/tasks" && req.method === "GET") {
          return json(200, {
            tasks: [...tasks.values()].map((t) => ({
              task_id: t.id,
              type: t.type,
              status: statusOf(t),
              outcome: t.outcome,
              keyId: t.keyId,
              prompt: t.input.prompt,
              original: t.input.original_model_task_id ?? t.input.draft_model_task_id,
              format: t.format,
              created: new Date(t.createdMs).toISOString(),
            })),
          });
        }
        const tm = p.match(/^\/__sim\/tasks\/([^/]+)$/);
        if (tm && req.method === "POST") {
          const t = tasks.get(decodeURIComponent(tm[1]));
          if (!t) return json(404, { error: "no such task" });
          const b = await readJson();
          if (b.outcome !== undefined) t.outcome = b.outcome as typeof t.outcome;
          if (b.finish) t.finishedAtMs = Date.now();
          return json(200, { task_id: t.id, status: statusOf(t), outcome: t.outcome });
        }
        return null;
      },
    });
  }

  async function route(
    req: Request,
    url: URL,
    entry: LogEntry,
    fault: SimFault | undefined,
    bodyText: string | undefined,
  ): Promise<Response> {
    const p = url.pathname;
    const fm = p.match(/^\/files\/([^/]+)\/[^/]+$/);
    if (fm && (req.method === "GET" || req.method === "HEAD")) return download(req, fm[1], fault);
    if (!p.startsWith(BASE + "/")) {
      return json(404, { code: 9404, message: "Route not found", suggestion: "" });
    }
    const sub = p.slice(BASE.length);
    if (sub === "/task" && req.method === "POST") {
      return await createTask(req, entry, fault, bodyText);
    }
    const gm = sub.match(/^\/task\/([^/]+)$/);
    if (gm && req.method === "GET") return await getTask(req, entry, gm[1]);
    if ((sub === "/upload" || sub === "/upload/sts") && req.method === "POST") {
      return await upload(req, entry);
    }
    if ((sub === "/user/balance" || sub === "/user/wallet/balance") && req.method === "GET") {
      await auth(req, entry);
      return ok({ balance: 100000, frozen: 0 });
    }
    return json(404, { code: 9404, message: "Route not found", suggestion: "" });
  }

  async function handle(req: Request): Promise<Response> {
    const url = new URL(req.url);
    if (url.pathname.startsWith("/__sim/")) return control(req, url);
    const trace = crypto.randomUUID();
    const entry = log.add({
      method: req.method,
      path: url.pathname,
      query: url.search,
      authOk: null,
    });
    // POST /task: read the body first, so faults can match on its task type.
    let bodyText: string | undefined;
    let taskType: string | undefined;
    if (req.method === "POST" && url.pathname === `${BASE}/task`) {
      bodyText = await req.text();
      try {
        const parsed = JSON.parse(bodyText);
        entry.body = summarize(parsed);
        if (typeof parsed?.type === "string") taskType = parsed.type;
      } catch {
        // malformed: createTask answers 1003
      }
    }
    const fault = faults.take(req.method, url.pathname, { taskType });
    if (fault) entry.fault = fault.kind ?? "status";
    const kind = fault?.kind ?? "status";
    if (fault && kind === "delay") await sleep(fault.delayMs ?? 1000);
    const statusFault = fault && kind === "status";
    if (statusFault && !fault.landed) {
      await req.body?.cancel().catch(() => {});
      const e = faultError(fault);
      entry.status = e.status;
      return envelopeError(e, trace);
    }
    let res: Response;
    try {
      res = await route(req, url, entry, fault, bodyText);
    } catch (e) {
      if (!(e instanceof TripoError)) throw e;
      res = envelopeError(e, trace);
    }
    if (statusFault) {
      await res.body?.cancel();
      res = envelopeError(faultError(fault), trace);
    } else if (fault && kind === "reset") {
      await res.body?.cancel();
      entry.status = 0;
      return brokenResponse({ "X-Tripo-Trace-ID": trace });
    } else if (fault && kind === "malformed") {
      await res.body?.cancel();
      res = new Response('{"code":0,"data":{"task_id":', {
        status: 200,
        headers: { "content-type": "application/json" },
      });
    }
    res.headers.set("X-Tripo-Trace-ID", trace);
    entry.status = res.status;
    return res;
  }

  function checkOutcomes(list: unknown[]) {
    for (const o of list) {
      if (!OUTCOMES.includes(o as TripoOutcome)) {
        throw new Error(`outcome must be one of ${OUTCOMES.join("|")}, not ${o}`);
      }
    }
  }

  function checkFaults(list: SimFault[]) {
    for (const f of list) {
      if (f?.kind === "outcome" && f.outcome !== undefined) checkOutcomes([f.outcome]);
    }
  }

  function faultError(f: SimFault): TripoError {
    const status = f.status ?? 500;
    const code = typeof f.code === "number"
      ? f.code
      : status === 429
      ? 2000
      : status === 401
      ? 1002
      : status === 404
      ? 2001
      : status >= 500
      ? 1000
      : 1004;
    const headers: Record<string, string> = {};
    if (f.retryAfter !== undefined) headers["Retry-After"] = String(f.retryAfter);
    return new TripoError(
      status,
      code,
      f.message ?? "Simulated fault",
      "Try again later.",
      headers,
    );
  }

  return {
    fetch: handle,
    /** Direct access for in-process tests and the orchestrator. */
    reset,
    get config(): TripoSimConfig {
      return { ...config, faults: faults.list() };
    },
    configure(patch: Partial<TripoSimConfig>) {
      const { faults: f, nextOutcomes, ...rest } = patch;
      if (f) checkFaults(f);
      if (nextOutcomes) checkOutcomes(nextOutcomes);
      config = { ...config, ...rest };
      if (f) faults.set(f);
      if (nextOutcomes) config.nextOutcomes = [...nextOutcomes];
    },
    get stats() {
      return { ...stats };
    },
  };
}

export type TripoSimulator = ReturnType<typeof createTripoSimulator>;

export function serveTripoSimulator(
  opts: {
    port?: number;
    hostname?: string;
    fetchInput?: typeof fetch;
    config?: Partial<TripoSimConfig>;
  } = {},
) {
  const s = serveSimulator(
    (publicUrl) =>
      createTripoSimulator({ publicUrl, fetchInput: opts.fetchInput, config: opts.config }),
    opts,
  );
  return { ...s, baseUrl: `${s.url}${BASE}` };
}
