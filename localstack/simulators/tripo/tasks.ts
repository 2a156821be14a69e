// A task's lifecycle, queued → running → its outcome (status `unknown` while running for that
// outcome, `stuck` running forever, unless forced to finish), worked out from its times at each
// look; the task object GET /v2/openapi/task/{id} answers with.
import { modelLayout } from "../formats/layout.ts";
import type { LogEntry } from "../mod.ts";
import { auth } from "./auth.ts";
import { ok, TripoError } from "./envelope.ts";
import { mintFile } from "./files.ts";
import type { SimTask, TripoState } from "./state.ts";

export function statusOf(t: SimTask, now = Date.now()): string {
  if (t.finishedAtMs !== undefined && now >= t.finishedAtMs) {
    return t.outcome === "unknown" || t.outcome === "stuck" ? "success" : t.outcome;
  }
  const age = now - t.createdMs;
  if (age < t.queueMs) return "queued";
  if (t.outcome === "stuck") return "running";
  if (age < t.queueMs + t.runMs) return t.outcome === "unknown" ? "unknown" : "running";
  return t.outcome === "unknown" ? "success" : t.outcome;
}

export const isActive = (s: string) => s === "queued" || s === "running" || s === "unknown";

function taskView(s: TripoState, t: SimTask) {
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
    const ahead = [...s.tasks.values()].filter((o) =>
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
      output.model = mintFile(s, t.id, t.format, t.outSize, `${t.id}.${ext}`);
    } else if (t.type === "text_to_image") {
      output.generated_image = mintFile(s, t.id, "png", 0, `${t.id}.png`);
    } else {
      const pbr = t.input.pbr !== false;
      output.model = mintFile(s, t.id, "glb", t.glbSize, `${t.id}.glb`);
      if (pbr) output.pbr_model = mintFile(s, t.id, "glb", t.glbSize, `${t.id}_pbr.glb`);
      output.rendered_image = mintFile(s, t.id, "png", 0, `${t.id}.png`);
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

export async function getTask(
  s: TripoState,
  req: Request,
  entry: LogEntry,
  id: string,
): Promise<Response> {
  s.stats.taskGets++;
  const keyId = await auth(req, entry);
  const t = s.tasks.get(decodeURIComponent(id));
  if (!t || t.keyId !== keyId) throw new TripoError(404, 2001, "Task not found");
  return ok(taskView(s, t));
}
