// POST /functions/v1/generate-image-to-model — Tripo image_to_model / multiview_to_model (SPEC §2.1).
// The flow is _shared/handlers/generate.ts; what is particular to the kind, _shared/jobs/plans.ts.
import { generationApp } from "../_shared/generation_app.ts";
import { PLANS } from "../_shared/jobs/plans.ts";

Deno.serve(generationApp("generate-image-to-model", PLANS.image_to_model).fetch);
