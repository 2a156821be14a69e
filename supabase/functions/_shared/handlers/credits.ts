// The `credits` function (SPEC §11): a user's balance and ledger, the price list, and for the
// project's services only (the secret key) grants and price changes. Every change is a SQL
// function (credits.sql); this file validates and maps outcomes to the error table.
import type { Context } from "hono";
import { z } from "zod";
import type { Config } from "../config.ts";
import type { AppEnv } from "../context.ts";
import type { Db } from "../db.ts";
import { apiError } from "../errors.ts";
import { readJsonBody } from "../http.ts";
import { issuesOf, jobKind } from "../jobs/schemas.ts";

export const grantBody = z.strictObject({
  user_id: z.uuid(),
  amount: z.number().int().min(1).max(1_000_000_000),
  reason: z.string().trim().min(1).max(200),
});

export const pricesBody = z.partialRecord(jobKind, z.number().int().min(0).max(1_000_000))
  .refine((p) => Object.keys(p).length > 0, { message: "name at least one job kind" });

export const ledgerQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(200).default(50),
  before: z.coerce.number().int().min(1).optional(),
});

const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;

function parsed<T>(schema: z.ZodType<T>, raw: unknown): T {
  const r = schema.safeParse(raw);
  if (!r.success) {
    throw apiError("validation_failed", "The request is not valid.", {
      details: issuesOf(r.error),
    });
  }
  return r.data;
}

export function createCreditsHandlers(deps: {
  config: Config;
  db: Pick<Db, "creditStatement" | "creditPrices" | "grantCredits" | "setCreditPrices">;
}) {
  const { config, db } = deps;
  return {
    /** GET /credits?limit=&before=: balance, reserved, available, a page of the ledger. */
    async statement(c: Context<AppEnv>) {
      const q = parsed(ledgerQuery, c.req.query());
      c.header("cache-control", "no-store");
      return c.json(
        await db.creditStatement(c.get("user").id, config.CREDITS_SIGNUP_GRANT, q.limit, q.before),
      );
    },

    /** GET /credits/prices: { <kind>: price }. */
    async prices(c: Context<AppEnv>) {
      return c.json(await db.creditPrices());
    },

    /** POST /credits/grant (secret key): once per Idempotency-Key. */
    async grant(c: Context<AppEnv>) {
      const key = c.req.header("idempotency-key");
      if (key !== undefined && !IDEMPOTENCY_KEY.test(key)) {
        throw apiError("bad_request", "Idempotency-Key must be 1–255 visible ASCII characters.");
      }
      const body = parsed(grantBody, await readJsonBody(c));
      const r = await db.grantCredits(body.user_id, body.amount, body.reason, key ?? null);
      switch (r.outcome) {
        case "no_user":
          throw apiError("not_found", "No such user.");
        case "conflict":
          throw apiError("idempotency_conflict");
        case "existing":
          c.header("idempotent-replayed", "true");
      }
      return c.json(
        { entry_id: r.entry_id, available: r.available },
        r.outcome === "created" ? 201 : 200,
      );
    },

    /** PUT /credits/prices (secret key): the kinds given; answers every price. */
    async setPrices(c: Context<AppEnv>) {
      const body = parsed(pricesBody, await readJsonBody(c));
      return c.json(await db.setCreditPrices(body));
    },
  };
}
