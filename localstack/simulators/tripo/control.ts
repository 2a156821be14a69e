/**
 * Control API of the Tripo simulator (JSON)
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
 *                       see ../mod.ts), nextOutcomes:["failed",…] (consumed by the next tasks)}
 *   POST /__sim/reset   {} everything (tasks, uploads, log, config, faults); {"scope":"log"} log only
 */
import { handleControl, json } from "../mod.ts";
import {
  checkFaults,
  checkOutcomes,
  DEFAULTS,
  MAX_GLB,
  resetTripoState,
  type TripoState,
} from "./state.ts";
import { statusOf } from "./tasks.ts";

export function control(s: TripoState, req: Request, url: URL): Promise<Response> {
  const p = url.pathname;
  return handleControl(req, url, {
    log: s.log,
    stats: s.stats,
    faults: s.faults,
    config: () => ({ ...s.config }),
    applyConfig: (b) => {
      if (Array.isArray(b.faults)) checkFaults(b.faults);
      if (Array.isArray(b.nextOutcomes)) checkOutcomes(b.nextOutcomes);
      for (const k of Object.keys(DEFAULTS) as (keyof typeof DEFAULTS)[]) {
        if (b[k] !== undefined) (s.config as unknown as Record<string, unknown>)[k] = b[k];
      }
      s.config.glbSize = Math.min(MAX_GLB, s.config.glbSize);
      s.config.convertSize = Math.min(MAX_GLB, s.config.convertSize);
      if (Array.isArray(b.nextOutcomes)) s.config.nextOutcomes = [...b.nextOutcomes];
    },
    reset: () => resetTripoState(s),
    // Tripo's own routes: the task list, and forcing a task's fate.
    extra: async (readJson) => {
      if (p === "/__sim/tasks" && req.method === "GET") {
        return json(200, {
          tasks: [...s.tasks.values()].map((t) => ({
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
        const t = s.tasks.get(decodeURIComponent(tm[1]));
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
