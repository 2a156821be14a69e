// POST /functions/v1/generate-text-to-model — Tripo text_to_model (SPEC §2.1).
// The flow is _shared/handlers/generate.ts; what is particular to the kind, _shared/jobs/plans.ts.
import { generationApp } from "../_shared/generation_app.ts";
import { PLANS } from "../_shared/jobs/plans.ts";

Deno.serve(generationApp("generate-text-to-model", PLANS.text_to_model).fetch);
