// POST /functions/v1/generate-refine-model — Tripo refine_model of the caller's own draft (SPEC §2.1).
// The flow is _shared/handlers/generate.ts; what is particular to the kind, _shared/jobs/plans.ts.
import { generationApp } from "../_shared/generation_app.ts";
import { PLANS } from "../_shared/jobs/plans.ts";

Deno.serve(generationApp("generate-refine-model", PLANS.refine_model).fetch);
