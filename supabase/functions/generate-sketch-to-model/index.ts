// POST /functions/v1/generate-sketch-to-model — Tripo image_to_model from a sketch (SPEC §2.1).
// The flow is _shared/handlers/generate.ts; what is particular to the kind, _shared/jobs/plans.ts.
import { generationApp } from "../_shared/generation_app.ts";
import { PLANS } from "../_shared/jobs/plans.ts";

Deno.serve(generationApp("generate-sketch-to-model", PLANS.sketch_to_model).fetch);
