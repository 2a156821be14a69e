// What the Tripo provider's tests (tripo_task, tripo_client) share: the Tripo request a plan
// stores, narrowed, and a PNG input as the BFF records it.
import assert from "node:assert/strict";
import type {
  JobRequest,
  TripoTaskRequest,
} from "../../../supabase/functions/_shared/jobs/schemas.ts";

/** The Tripo request a plan stores (narrowed, so a plan that stored anything else fails). */
export function tripoRequest(r: JobRequest): TripoTaskRequest {
  assert.equal(r.op, "tripo_task");
  if (r.op !== "tripo_task") throw new Error("not a Tripo request");
  return r;
}

export const png = (path: string) => ({
  bucket: "input-assets",
  path,
  size: 100,
  contentType: "image/png" as const,
});
