// The generation endpoints share one flow: verify the user (middleware), validate the body with
// the job kind's schema, check every input is this project's Storage and readable by the
// caller, then create the row(s) and the job in one transaction, nudge process-jobs, and answer
// 202. What differs per kind lives in jobs/plans.ts.
import type { Context } from "hono";
import type { z } from "zod";
import type { Config } from "../config.ts";
import type { AppEnv } from "../context.ts";
import type { Db } from "../db.ts";
import { apiError } from "../errors.ts";
import { canonicalJson, readJsonBody, sha256Hex } from "../http.ts";
import type { Plan, PlanContext, SourceInfo } from "../jobs/plans.ts";
import { issuesOf, type Provider } from "../jobs/schemas.ts";
import type { Storage } from "../storage/adapter.ts";
import { parseStorageUrl, probeInput } from "../storage/inputs.ts";

/** The seam handler tests use: fakes for the database, Storage and the nudge. */
export interface GenerateDeps {
  config: Config;
  db: Pick<Db, "enqueueJob" | "jobStatus" | "findSourceModel" | "ownsDraft">;
  storage: Pick<Storage, "readHeadAsUser">;
  /** Wakes process-jobs after the commit (not awaited: it is sent under waitUntil). */
  nudge: () => unknown;
}

const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;

/** Conversions the body asks to chain after the model. */
function conversions(body: object): number {
  const l: unknown = Reflect.get(body, "output_formats");
  return Array.isArray(l) ? l.length : 0;
}

export const serviceName = (p: Provider) => (p === "openai" ? "openai" : "tripoai");

export function createGenerateHandler<B extends z.ZodType<{ task_id: string }>>(
  plan: Plan<B>,
  deps: GenerateDeps,
) {
  const { config, db, storage } = deps;
  const limits = {
    image: config.RATE_LIMIT_IMAGE_PER_MINUTE,
    model: config.RATE_LIMIT_MODEL_PER_MINUTE,
    refine: config.RATE_LIMIT_REFINE_PER_MINUTE,
    convert: config.RATE_LIMIT_CONVERT_PER_MINUTE,
  };

  /** The caller's own finished model the job starts from (refine, convert). */
  async function sourceModel(userId: string, body: z.output<B>): Promise<SourceInfo | undefined> {
    const source = plan.source?.(body);
    if (!source) return undefined;
    if (source.taskId) {
      if (!(await db.ownsDraft(userId, source.taskId))) {
        throw apiError("forbidden", "draft_model_task_id is not one of your finished models.");
      }
      return { taskId: source.taskId, modelId: null, modelVersion: null };
    }
    const ref = parseStorageUrl(source.url, config, source.field);
    const found = await db.findSourceModel(userId, ref.bucket, ref.path);
    if (!found) {
      throw apiError(
        "bad_request",
        `No finished GLB model of yours is stored at ${source.field}` +
          (plan.kind === "refine_model" ? "; pass draft_model_task_id." : "."),
        { details: { field: source.field } },
      );
    }
    const issues = plan.sourceIssues?.(body, found) ?? [];
    if (issues.length) {
      throw apiError("validation_failed", "The request body is not valid.", { details: issues });
    }
    return found;
  }

  return async (c: Context<AppEnv>) => {
    const user = c.get("user");
    const headerKey = c.req.header("idempotency-key");
    if (headerKey !== undefined && !IDEMPOTENCY_KEY.test(headerKey)) {
      throw apiError("bad_request", "Idempotency-Key must be 1–255 visible ASCII characters.");
    }
    const raw = await readJsonBody(c);
    if (!raw || typeof raw !== "object" || Array.isArray(raw)) {
      throw apiError("validation_failed", "The body must be a JSON object.");
    }
    const parsed = plan.body.safeParse(raw);
    if (!parsed.success) {
      throw apiError("validation_failed", "The request body is not valid.", {
        details: issuesOf(parsed.error),
      });
    }
    const body = parsed.data;

    // Syntactic checks of every URL before any network call.
    const inputs = plan.inputs(body).map((i) => ({
      ...i,
      ref: parseStorageUrl(i.url, config, i.field),
    }));
    const ctx: PlanContext = { source: await sourceModel(user.id, body) };
    const probed = await Promise.all(
      inputs.map((i) => probeInput(storage, i.ref, user.token, i.kind, i.field)),
    );
    const requestHash = sha256Hex(`${plan.kind}\n${canonicalJson(body)}`);
    const row = plan.row(body, ctx);
    const taskId = body.task_id;
    const result = await db.enqueueJob({
      userId: user.id,
      kind: plan.kind,
      provider: plan.provider,
      clientTaskId: taskId,
      request: plan.request(body, probed, ctx),
      idempotencyKey: headerKey ? `hdr:${headerKey}` : `body:${requestHash}`,
      requestHash,
      rateBucket: plan.rateBucket,
      rateLimit: limits[plan.rateBucket],
      maxActive: config.USER_MAX_ACTIVE_JOBS,
      outputs: plan.outputs(body),
      maxAttempts: config.JOB_MAX_ATTEMPTS,
      deadlineSeconds: config.JOB_DEADLINE_SECONDS,
      signupGrant: config.CREDITS_SIGNUP_GRANT,
      rows: {
        task_id: taskId,
        prompt: row.prompt,
        style: row.style,
        format: row.format,
        source_model_id: row.sourceModelId ?? undefined,
        metadata: { kind: plan.kind },
      },
    });

    switch (result.outcome) {
      case "conflict":
        throw apiError("idempotency_conflict");
      case "insufficient_credits":
        throw apiError(
          "insufficient_credits",
          `This job costs ${result.price} credits` +
            (conversions(body) ? ` with its ${conversions(body)} conversions` : "") +
            `; you have ${result.balance}.`,
          { details: { balance: result.balance, price: result.price } },
        );
      case "rate_limited": {
        const after = String(Math.max(1, result.retry_after_seconds));
        throw apiError(
          "rate_limited",
          `Too many ${plan.rateBucket} requests; try again in ${after} s.`,
          { headers: { "retry-after": after } },
        );
      }
      case "too_many_active": {
        const after = String(Math.max(1, result.retry_after_seconds));
        throw apiError(
          "too_many_active_jobs",
          `You already have ${config.USER_MAX_ACTIVE_JOBS} jobs running; wait for one to finish.`,
          { headers: { "retry-after": after } },
        );
      }
    }

    const jobId = result.job_id;
    c.header(
      "location",
      `/functions/v1/task-status/${jobId}?service=${serviceName(plan.provider)}`,
    );
    if (result.outcome === "existing") {
      c.header("idempotent-replayed", "true");
      const status = (await db.jobStatus(jobId, user.id))?.view.status ?? "pending";
      return c.json({ job_id: jobId, celery_task_id: jobId, task_id: taskId, status }, 202);
    }
    void deps.nudge();
    return c.json(
      { job_id: jobId, celery_task_id: jobId, task_id: taskId, status: "pending" },
      202,
    );
  };
}
