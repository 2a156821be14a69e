// The `ops` function: the operators' read of the queue, the failures by code and the credits
// (bff.queue_overview, bff.failures_by_code, bff.credit_overview, bff.credit_totals), for signed-in
// users whose app_metadata marks them operators. Those views are the service role's only; this
// function reads them for the caller after auth.ts `requireOperator` has checked the claim.
import type { Context } from "hono";
import { z } from "zod";
import type { AppEnv } from "../context.ts";
import type { Db } from "../db.ts";

const provider = z.enum(["openai", "tripo"]);
const count = z.number().int().min(0);

export const opsOverview = z.object({
  queue: z.array(z.object({
    state: z.enum(["queued", "running", "succeeded", "failed", "cancelled"]),
    provider,
    jobs: count,
    /** How long the oldest due, unleased job of this state and provider has waited. */
    oldest_waiting_seconds: z.number().int().nullable(),
  })),
  /** Failed and cancelled jobs of the last 24 hours. */
  failures: z.array(z.object({
    provider,
    error_code: z.string().nullable(),
    jobs: count,
    last_seen: z.string().nullable(),
  })),
  /** The users who spent most, at most CREDIT_ROWS of them. */
  credits: z.array(z.object({
    user_id: z.uuid(),
    granted: z.number().int(),
    charged: z.number().int(),
    reserved: z.number().int(),
    balance: z.number().int(),
    available: z.number().int(),
    jobs_charged: count,
    updated_at: z.string().nullable(),
  })),
  credit_totals: z.array(z.object({
    entry: z.enum(["grant", "reserve", "charge", "release"]),
    entries: count,
    amount: z.number().int(),
  })),
  generated_at: z.string(),
});
export type OpsOverviewBody = z.infer<typeof opsOverview>;

export const CREDIT_ROWS = 50;

export function createOpsHandlers(deps: { db: Pick<Db, "opsOverview"> }) {
  return {
    /** GET /ops: the four views at one moment (one statement). */
    async overview(c: Context<AppEnv>) {
      const rows = await deps.db.opsOverview(CREDIT_ROWS);
      // Parsed, not cast: a view that drifts from this shape fails here, loudly.
      const body = opsOverview.parse({ ...rows, generated_at: new Date().toISOString() });
      c.header("cache-control", "no-store");
      return c.json(body);
    },
  };
}
