// POST /functions/v1/generate-convert-model — Tripo convert_model of the caller's own finished model to GLTF, USDZ, FBX, OBJ, STL or 3MF (SPEC §12).
// The flow is _shared/handlers/generate.ts; what is particular to the kind, _shared/jobs/plans.ts.
import { generationApp } from "../_shared/generation_app.ts";
import { PLANS } from "../_shared/jobs/plans.ts";

Deno.serve(generationApp("generate-convert-model", PLANS.convert_model).fetch);
