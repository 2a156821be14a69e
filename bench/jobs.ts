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
