// GET /task-status/{job_id}: the job as the app sees it, read from the database only (it never
// calls a provider and never writes). Private outputs get freshly minted signed URLs, signed
// with the caller's own token. DELETE (or POST …/cancel) cancels the caller's job.
import type { Context } from "hono";
import type { AppEnv } from "../context.ts";
import type { Db } from "../db.ts";
import { apiError } from "../errors.ts";
import type { TaskStatus } from "../responses.ts";
import type { Storage } from "../storage/adapter.ts";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const SERVICES = new Set(["openai", "tripoai"]);
const noSuchJob = () => apiError("not_found", "No such job.");

function jobIdParam(c: Context<AppEnv>): string {
  const id = c.req.param("job_id") ?? "";
  if (!UUID.test(id)) {
    throw apiError("bad_request", "job_id must be the UUID returned by a generation call.");
  }
  return id.toLowerCase();
}

export function createTaskStatusHandlers(deps: {
  db: Pick<Db, "jobStatus" | "cancelJob">;
  storage: Pick<Storage, "signUrlsAsUser">;
}) {
  const { db, storage } = deps;
  return {
    async get(c: Context<AppEnv>) {
      const jobId = jobIdParam(c);
      const service = c.req.query("service");
      if (service !== undefined && !SERVICES.has(service)) {
        throw apiError("bad_request", "service must be openai or tripoai.");
      }
      const user = c.get("user");
      const job = await db.jobStatus(jobId, user.id);
      if (!job) throw noSuchJob();
      if (service !== undefined && service !== job.view.service) {
        throw apiError("bad_request", `This job is not a ${service} job.`);
      }
      let urls: string[];
      try {
        urls = await storage.signUrlsAsUser(job.outputs, user.token);
      } catch {
        throw apiError("upstream_error", "Could not create download links right now.");
      }
      c.header("cache-control", "no-store");
      const body: TaskStatus = { ...job.view, asset_url: urls[0] ?? null, asset_urls: urls };
      return c.json(body);
    },

    async cancel(c: Context<AppEnv>) {
      const jobId = jobIdParam(c);
      const outcome = await db.cancelJob(jobId, c.get("user").id);
      if (outcome === "not_found") throw noSuchJob();
      if (outcome === "already_finished") {
        throw apiError("conflict", "The job has already finished.");
      }
      return c.json({ task_id: jobId, status: "failed", cancelled: true });
    },
  };
}
