// One step of an OpenAI image job. The billed call is the request itself (an edit of the input
// image, or a generation from the prompt alone), answered with the images: it is recorded
// before it is made and never replayed; its images are stored with in-place retries, since they
// cannot be made again.
import type { ClaimedJob, Db, OutputRef } from "../db.ts";
import type { OpenAIImagesClient } from "../providers/openai.ts";
import type { Storage } from "../storage/adapter.ts";
import { OUTPUT_TYPES } from "./assets.ts";
import { type Outcome, type Outcomes, PaidOutputLost } from "./outcome.ts";
import type { OpenAIRequest } from "./schemas.ts";
import { persist, RECORD_ATTEMPTS } from "./tripo_step.ts";

/** Any single Storage call (input download, image upload, existence check). */
const STORAGE_CALL_TIMEOUT_MS = 20_000;
/** Uploads of results already paid for are retried in place: they cannot be made again. */
const PAID_UPLOAD_ATTEMPTS = 3;

export function createOpenAIStep(deps: {
  db: Db;
  storage: Storage;
  openai: OpenAIImagesClient;
  outcomes: Outcomes;
  outputRef: (job: ClaimedJob, file: string) => OutputRef;
}) {
  const { db, storage, openai, outcomes, outputRef } = deps;

  return async function openaiStep(job: ClaimedJob, req: OpenAIRequest): Promise<Outcome> {
    const n = req.params.n;
    const ext = OUTPUT_TYPES.png.extension;
    const outs = Array.from({ length: n }, (_, i) => outputRef(job, `${job.job_id}-${i}.${ext}`));
    if (job.submitted_at) {
      // An earlier invocation died after sending the billed call. If it stored every image
      // before dying, the job is done; otherwise it cannot be replayed.
      const present = await Promise.all(
        outs.map((o) => storage.exists(o, AbortSignal.timeout(STORAGE_CALL_TIMEOUT_MS))),
      );
      if (present.every(Boolean)) {
        return (await db.completeJob(job.job_id, job.lease_token, outs))
          ? "completed"
          : "lease_lost";
      }
      return await outcomes.fail(job, "submission_unknown");
    }
    // An edit's input is read before the billed call is recorded: a failed read costs nothing.
    const edit = req.op === "openai_edit"
      ? await (async () => {
        const [input] = req.inputs;
        const res = await storage.download(input, AbortSignal.timeout(STORAGE_CALL_TIMEOUT_MS));
        return { input, image: new Uint8Array(await res.arrayBuffer()) };
      })()
      : null;
    const gate = await db.beginSubmit(job.job_id, job.lease_token);
    if (gate === "lease_lost") return "lease_lost";
    if (gate !== "ok") return await outcomes.fail(job, "submission_unknown");
    const result = edit
      ? await openai.edit({
        image: edit.image,
        contentType: edit.input.content_type,
        filename: `input.${edit.input.content_type.slice(6)}`,
        prompt: req.prompt,
        ...req.params,
      })
      : await openai.generate({ prompt: req.prompt, ...req.params });
    if (result.images.length < n) return await outcomes.fail(job, "output_invalid");
    // Each attempt bounded: a stalled Storage must not hang the invocation.
    try {
      await Promise.all(
        outs.map((o, i) =>
          persist(PAID_UPLOAD_ATTEMPTS, () =>
            storage.upload(
              o,
              result.images[i],
              OUTPUT_TYPES.png.contentType,
              AbortSignal.timeout(STORAGE_CALL_TIMEOUT_MS),
            ))
        ),
      );
    } catch (e) {
      throw new PaidOutputLost(e);
    }
    const done = await persist(
      RECORD_ATTEMPTS,
      () => db.completeJob(job.job_id, job.lease_token, outs),
    );
    return done ? "completed" : "lease_lost";
  };
}
