// The five generation endpoints share one flow: verify the user (middleware), validate the
// body, check every input is this project's Storage and readable by the caller, then create
// the row(s) and the job in one transaction, nudge process-jobs, and answer 202.
import type { Context } from "hono";
import type { z } from "zod";
import type { AppEnv } from "../app.ts";
import type { Config } from "../config.ts";
import type { Db, JobKind, Provider } from "../db.ts";
import { ApiError, badRequest } from "../errors.ts";
import { canonicalJson, readJsonBody, sha256Hex } from "../http.ts";
import { type AssetKind, parseStorageUrl, type ProbedInput, type Storage } from "../storage.ts";
import {
  imageToImageBody,
  imageToModelBody,
  issuesOf,
  refineModelBody,
  sketchToModelBody,
  textToModelBody,
} from "../validation.ts";

export interface GenerateDeps {
  config: Config;
  db: Db;
  storage: Storage;
  nudge: () => void;
}

interface InputSpec {
  field: string;
  url: string;
  kind: AssetKind;
}

interface Plan {
  provider: Provider;
  rateBucket: "image" | "model" | "refine";
  outputs: number;
  inputs: InputSpec[];
  /** Provider parameters (documented ones only) and what process-jobs needs. */
  request: (body: Record<string, unknown>, inputs: ProbedInput[]) => Record<string, unknown>;
  rowPrompt: (body: Record<string, unknown>) => string | null;
}

const OPTION_KEYS = [
  "negative_prompt",
  "style",
  "texture",
  "pbr",
  "model_version",
  "face_limit",
  "auto_size",
  "texture_quality",
  "model_seed",
  "texture_seed",
  "image_seed",
  "orientation",
  "texture_alignment",
] as const;

function pick(body: Record<string, unknown>, keys: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of keys) if (body[k] !== undefined) out[k] = body[k];
  return out;
}

const inputRef = (p: ProbedInput) => ({
  bucket: p.bucket,
  path: p.path,
  content_type: p.contentType,
  size: p.size,
});

type Schema = z.ZodType<Record<string, unknown>>;

const PLANS: Record<JobKind, { schema: Schema; plan: (b: Record<string, unknown>) => Plan }> = {
  image_to_image: {
    schema: imageToImageBody as unknown as Schema,
    plan: (b) => ({
      provider: "openai",
      rateBucket: "image",
      outputs: b.n as number,
      inputs: [{
        field: "input_image_asset_url",
        url: b.input_image_asset_url as string,
        kind: "image",
      }],
      request: (body, inputs) => ({
        // The seed's prompt customisation: the style is appended to the prompt.
        prompt: body.style ? `${body.prompt} Style: ${body.style}` : body.prompt,
        params: pick(body, ["n", "size", "quality", "background"]),
        inputs: inputs.map(inputRef),
      }),
      rowPrompt: (body) => body.prompt as string,
    }),
  },
  text_to_model: {
    schema: textToModelBody as unknown as Schema,
    plan: () => ({
      provider: "tripo",
      rateBucket: "model",
      outputs: 1,
      inputs: [],
      request: (body) => ({
        tripo_type: "text_to_model",
        params: { prompt: body.prompt, ...pick(body, OPTION_KEYS) },
        inputs: [],
      }),
      rowPrompt: (body) => body.prompt as string,
    }),
  },
  image_to_model: {
    schema: imageToModelBody as unknown as Schema,
    plan: (b) => {
      const urls = b.input_image_asset_urls as string[];
      return {
        provider: "tripo",
        rateBucket: "model",
        outputs: 1,
        inputs: urls.map((url, i) => ({
          field: `input_image_asset_urls[${i}]`,
          url,
          kind: "image" as const,
        })),
        request: (body, inputs) => ({
          // One view: image_to_model. Two to four: multiview_to_model, [front, left, back, right].
          tripo_type: inputs.length === 1 ? "image_to_model" : "multiview_to_model",
          params: pick(body, OPTION_KEYS.filter((k) => k !== "image_seed")),
          inputs: inputs.map(inputRef),
        }),
        rowPrompt: () => null,
      };
    },
  },
  sketch_to_model: {
    schema: sketchToModelBody as unknown as Schema,
    plan: (b) => ({
      provider: "tripo",
      rateBucket: "model",
      outputs: 1,
      inputs: [{
        field: "input_sketch_asset_url",
        url: b.input_sketch_asset_url as string,
        kind: "image",
      }],
      request: (body, inputs) => ({
        tripo_type: "image_to_model",
        params: pick(body, OPTION_KEYS.filter((k) => k !== "image_seed")),
        inputs: inputs.map(inputRef),
      }),
      rowPrompt: () => null,
    }),
  },
  refine_model: {
    schema: refineModelBody as unknown as Schema,
    plan: (b) => ({
      provider: "tripo",
      rateBucket: "refine",
      outputs: 1,
      inputs: [{
        field: "input_model_asset_url",
        url: b.input_model_asset_url as string,
        kind: "model",
      }],
      request: (body, inputs) => ({
        tripo_type: "refine_model",
        params: pick(body, [
          "prompt",
          "texture",
          "pbr",
          "texture_quality",
          "model_version",
          "face_limit",
          "auto_size",
        ]),
        draft_model_task_id: body.draft_model_task_id,
        inputs: inputs.map(inputRef),
      }),
      rowPrompt: (body) => (body.prompt as string | undefined) ?? null,
    }),
  },
};

const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;

export function createGenerateHandler(kind: JobKind, deps: GenerateDeps) {
  const { config, db, storage } = deps;
  const { schema, plan: makePlan } = PLANS[kind];
  const limits = {
    image: config.RATE_LIMIT_IMAGE_PER_MINUTE,
    model: config.RATE_LIMIT_MODEL_PER_MINUTE,
    refine: config.RATE_LIMIT_REFINE_PER_MINUTE,
  };
  const service = (p: Provider) => (p === "openai" ? "openai" : "tripoai");

  return async (c: Context<AppEnv>) => {
    const user = c.get("user");
    const headerKey = c.req.header("idempotency-key");
    if (headerKey !== undefined && !IDEMPOTENCY_KEY.test(headerKey)) {
      throw badRequest("Idempotency-Key must be 1–255 visible ASCII characters.");
    }
    const raw = await readJsonBody(c);
    if (!raw || typeof raw !== "object" || Array.isArray(raw)) {
      throw new ApiError(400, "validation_failed", "The body must be a JSON object.");
    }
    const parsed = schema.safeParse(raw);
    if (!parsed.success) {
      throw new ApiError(
        400,
        "validation_failed",
        "The request body is not valid.",
        issuesOf(parsed.error),
      );
    }
    const body = parsed.data;
    const plan = makePlan(body);

    // Syntactic checks of every URL before any network call.
    const refs = plan.inputs.map((i) => ({ ...i, ref: parseStorageUrl(i.url, config, i.field) }));

    // Refine needs a Tripo draft that belongs to the caller.
    let draftId = body.draft_model_task_id as string | undefined;
    if (kind === "refine_model") {
      const model = refs[0].ref;
      if (draftId) {
        if (!(await db.ownsDraft(user.id, draftId))) {
          throw new ApiError(
            403,
            "forbidden",
            "draft_model_task_id is not one of your finished models.",
          );
        }
      } else {
        draftId = (await db.findRefineDraft(user.id, model.bucket, model.path)) ?? undefined;
        if (!draftId) {
          throw badRequest(
            "No finished model of yours is stored at input_model_asset_url; pass draft_model_task_id.",
          );
        }
      }
    }

    const probed = await Promise.all(
      refs.map((r) => storage.probeInput(r.ref, user.token, r.kind, r.field)),
    );
    const request = plan.request({ ...body, draft_model_task_id: draftId }, probed);
    const requestHash = sha256Hex(`${kind}\n${canonicalJson(body)}`);
    const idempotencyKey = headerKey ? `hdr:${headerKey}` : `body:${requestHash}`;

    const result = await db.enqueueJob({
      userId: user.id,
      kind,
      provider: plan.provider,
      clientTaskId: body.task_id as string,
      request,
      idempotencyKey,
      requestHash,
      rateBucket: plan.rateBucket,
      rateLimit: limits[plan.rateBucket],
      maxActive: config.USER_MAX_ACTIVE_JOBS,
      outputs: plan.outputs,
      maxAttempts: config.JOB_MAX_ATTEMPTS,
      deadlineSeconds: config.JOB_DEADLINE_SECONDS,
      rows: {
        table: plan.provider === "openai" ? "concept_images" : "models",
        task_id: body.task_id,
        prompt: plan.rowPrompt(body),
        style: (body.style as string | undefined) ?? null,
        metadata: { kind },
      },
    });

    switch (result.outcome) {
      case "conflict":
        throw new ApiError(
          409,
          "idempotency_conflict",
          "This Idempotency-Key was already used with a different request body.",
        );
      case "rate_limited": {
        const after = String(Math.max(1, result.retry_after_seconds ?? 60));
        throw new ApiError(
          429,
          "rate_limited",
          `Too many ${plan.rateBucket} requests; try again in ${after} s.`,
          undefined,
          { "retry-after": after },
        );
      }
      case "too_many_active": {
        const after = String(Math.max(1, result.retry_after_seconds ?? 30));
        throw new ApiError(
          429,
          "too_many_active_jobs",
          `You already have ${config.USER_MAX_ACTIVE_JOBS} jobs running; wait for one to finish.`,
          undefined,
          { "retry-after": after },
        );
      }
    }

    const jobId = result.job_id!;
    const location = `/functions/v1/task-status/${jobId}?service=${service(plan.provider)}`;
    c.header("location", location);
    if (result.outcome === "existing") {
      c.header("idempotent-replayed", "true");
      const status = (await db.jobStatus(jobId, user.id))?.status ?? "pending";
      return c.json(
        { job_id: jobId, celery_task_id: jobId, task_id: body.task_id, status },
        202,
      );
    }
    deps.nudge();
    return c.json(
      { job_id: jobId, celery_task_id: jobId, task_id: body.task_id, status: "pending" },
      202,
    );
  };
}
