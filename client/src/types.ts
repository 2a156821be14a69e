// The bodies and results of the BFF's endpoints (snake_case, as on the wire), named for the app.
// All of them come from generated/openapi.ts, which openapi-typescript writes from the repo's
// openapi.json (`npm run gen` in client/; a test fails when it is stale), and openapi.json in
// turn from the zod schemas that validate requests: one source of truth, never retyped here.
import type { components, operations, paths } from "./generated/openapi.ts";

type S = components["schemas"];

export type { components, operations, paths };

export type JobStatusValue = S["JobStatus"];
export type Service = S["Service"];
export type JobKind = S["JobKind"];
export type ConvertFormat = S["ConvertFormat"];

/** A generation POST's 202 body. */
export type Accepted = S["Accepted"];
/** Where an output is stored: sign it with `signedUrl`. */
export type StoredOutput = S["StoredOutput"];
/** A job with nothing that expires: the payload of the live `job` event. */
export type JobView = S["JobView"];
export type Conversion = S["Conversion"];
/** task-status: the job view plus freshly signed download URLs. */
export type TaskStatus = S["TaskStatus"];
export type Cancelled = S["Cancelled"];
export type CreditLedgerEntry = S["LedgerEntry"];
export type CreditStatement = S["CreditStatement"];
/** Every job kind's price, in credits. */
export type Prices = Record<JobKind, number>;

export type ImageToImageBody = S["ImageToImageRequest"];
export type TextToImageBody = S["TextToImageRequest"];
export type TextToModelBody = S["TextToModelRequest"];
export type ImageToModelBody = S["ImageToModelRequest"];
export type SketchToModelBody = S["SketchToModelRequest"];
export type RefineModelBody = S["RefineModelRequest"];
export type ConvertModelBody = S["ConvertModelRequest"];

/** The operators' view (queue, failures by code, credits); operators only. */
export type OpsOverview = S["OpsOverview"];

/** The error body of every refusal (what ApiError is built from). */
export type ErrorBody = S["ErrorBody"];
export type ErrorCode = S["ErrorCode"];
