// Jobs made straight in SQL, the way bff.enqueue_job is called by the generation functions
// (used where a section needs jobs without the HTTP path in front).
import type postgres from "postgres";

/** Enqueues one text-to-model job for `user`; returns its id. */
export async function enqueueTextToModel(
  sql: postgres.Sql,
  user: string,
  taskId: string,
  prompt: string,
): Promise<string> {
  const request = { op: "tripo_task", tripo_type: "text_to_model", params: { prompt }, inputs: [] };
  const [r] = await sql<{ job_id: string }[]>`
    select job_id from bff.enqueue_job(${user}::uuid, 'text_to_model', 'tripo', ${taskId},
      ${sql.json(request)}, ${`body:${taskId}`}, 'h', 'model', 100000, 100000, 1,
      ${sql.json({ task_id: taskId, prompt, style: null, metadata: { kind: "text_to_model" } })},
      8, 3600)`;
  return r.job_id;
}

/**
 * When the Tripo simulator accepted each job whose prompt starts `bench-<tag>-<i> `: its
 * request-log time (ms) by i, first accepted POST /task only.
 */
export async function tripoSubmitTimes(
  tripoUrl: string,
  tag: string,
): Promise<Map<number, number>> {
  const log = await (await fetch(
    `${tripoUrl}/__sim/requests?method=POST&path=/v2/openapi/task`,
  )).json() as { requests: { time: string; status?: number; body?: { prompt?: string } }[] };
  const submitAt = new Map<number, number>();
  const re = new RegExp(`^bench-${tag}-(\\d+) `);
  for (const e of log.requests) {
    const m = e.body?.prompt?.match(re);
    if (m && e.status === 200 && !submitAt.has(Number(m[1]))) {
      submitAt.set(Number(m[1]), Date.parse(e.time));
    }
  }
  return submitAt;
}
