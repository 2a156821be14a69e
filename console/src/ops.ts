/// <reference lib="dom" />
// The operator tab: GET /functions/v1/ops with the user's own token. The function checks the
// operator claim in app_metadata (set only with the secret key); the page shows the tab to
// users whose claim says so, and the function refuses everyone else whatever the page shows.
import type { Session } from "@supabase/supabase-js";
import { describe, el, table } from "./dom.ts";

export function isOperator(session: Session | null): boolean {
  const m = session?.user.app_metadata ?? {};
  return m.role === "operator" || m.operator === true;
}

export async function loadOps(functionsUrl: string, token: string, root: HTMLElement) {
  root.dataset.state = "loading";
  try {
    const res = await fetch(`${functionsUrl}/ops`, {
      headers: { authorization: `Bearer ${token}` },
    });
    const body = await res.json();
    if (!res.ok) {
      throw { status: res.status, code: body?.error?.code, message: body?.error?.message };
    }
    root.replaceChildren(
      el("h3", {}, "Queue (bff.queue_overview)"),
      table(["state", "provider", "jobs", "oldest_waiting_seconds"], body.queue),
      el("h3", {}, "Failures by code, last 24 h (bff.failures_by_code)"),
      table(["provider", "error_code", "jobs", "last_seen"], body.failures),
      el("h3", {}, "Credits: top spenders (bff.credit_overview)"),
      table(
        ["user_id", "granted", "charged", "reserved", "available", "jobs_charged"],
        body.credits,
      ),
      el("h3", {}, "Ledger totals (bff.credit_totals)"),
      table(["entry", "entries", "amount"], body.credit_totals),
      el("p", { class: "meta" }, `as of ${body.generated_at}`),
    );
    root.dataset.state = "loaded";
  } catch (e) {
    const d = describe(e);
    root.replaceChildren(el("p", { class: "error", "data-error-code": d.code }, d.text));
    root.dataset.state = "error";
  }
}
