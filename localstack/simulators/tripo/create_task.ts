/**
 * POST /v2/openapi/task: the body checked (./fields.ts), its input files (./inputs.ts), its draft
 * (refine_model) or original (convert_model, ./convert.ts), its markers and the key's concurrency
 * cap; then the task, with the outcome its markers, faults and config give it.
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
 */
import type { ConvertFormat } from "../formats/layout.ts";
import { type LogEntry, parseMarkers, type SimFault, summarize } from "../mod.ts";
import { auth } from "./auth.ts";
import { checkConvert, convertMarkers } from "./convert.ts";
import { capError, ok, TripoError } from "./envelope.ts";
import { checkFields } from "./fields.ts";
import { resolveFile } from "./inputs.ts";
import { MAX_GLB, type SimTask, type TripoOutcome, type TripoState } from "./state.ts";
import { isActive, statusOf } from "./tasks.ts";

export async function createTask(
  s: TripoState,
  req: Request,
  entry: LogEntry,
  fault: SimFault | undefined,
  bodyText: string | undefined,
): Promise<Response> {
  s.stats.taskPosts++;
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
  checkFields(b);
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
    await resolveFile(s, keyId, b.file, "file", markerTexts);
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
      await resolveFile(s, keyId, slot, `files[${i}]`, markerTexts);
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
    const draft = s.tasks.get(String(b.draft_model_task_id));
    if (!draft || draft.keyId !== keyId) throw new TripoError(404, 2001, "Task not found");
    if (!["text_to_model", "image_to_model", "multiview_to_model"].includes(draft.type)) {
      throw new TripoError(400, 2006, "The original task is not a draft model task");
    }
    if (s.config.refineVersionCheck && draft.modelVersion >= "v2.0-20240919") {
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
    const orig = checkConvert(s, b, keyId);
    format = b.format as ConvertFormat;
    modelVersion = orig.modelVersion;
    taskMarkerTexts = orig.markerTexts;
    marks = convertMarkers(orig);
  }
  if (marks.has("banned")) {
    throw new TripoError(400, 2008, "The request was rejected by the content policy");
  }
  if (marks.has("credits")) throw new TripoError(403, 2010, "Not enough credits");
  if (marks.has("audit")) throw new TripoError(500, 2014, "Audit service error");
  if (marks.has("500")) throw new TripoError(500, 1000, "Unknown server error");
  if (marks.has("cap")) throw capError(s.config.retryAfterSec);
  const now = Date.now();
  const active =
    [...s.tasks.values()].filter((t) => t.keyId === keyId && isActive(statusOf(t, now))).length;
  if (active >= s.config.cap) throw capError(s.config.retryAfterSec);

  let outcome: TripoOutcome = "success";
  if (fault?.kind === "outcome") outcome = (fault.outcome ?? "failed") as TripoOutcome;
  else if (marks.has("fail")) outcome = "failed";
  else if (marks.has("banned-late")) outcome = "banned";
  else if (marks.has("expired")) outcome = "expired";
  else if (marks.has("cancelled")) outcome = "cancelled";
  else if (marks.has("unknown")) outcome = "unknown";
  else if (marks.has("stuck")) outcome = "stuck";
  else if (s.config.nextOutcomes.length) outcome = s.config.nextOutcomes.shift()!;
  if (s.config.stuck || fault?.kind === "stuck") outcome = "stuck";
  const slow = Number(marks.get("slow"));
  let runMs = slow > 0 ? slow : s.config.runMs;
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
    queueMs: s.config.queueMs,
    runMs,
    outcome,
    glbSize: Math.min(MAX_GLB, glb > 0 ? glb : s.config.glbSize),
    modelVersion,
    markerTexts: taskMarkerTexts,
    format,
    outSize: Math.min(MAX_GLB, outSize > 0 ? outSize : s.config.convertSize),
  };
  s.tasks.set(task.id, task);
  s.stats.tasksCreated++;
  return ok({ task_id: task.id });
}
