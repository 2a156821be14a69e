// POST /functions/v1/generate-text-to-image — OpenAI gpt-image-1 generations from a prompt (SPEC §12).
// The flow is _shared/handlers/generate.ts; what is particular to the kind, _shared/jobs/plans.ts.
import { generationApp } from "../_shared/generation_app.ts";
import { PLANS } from "../_shared/jobs/plans.ts";

Deno.serve(generationApp("generate-text-to-image", PLANS.text_to_image).fetch);
