// POST /functions/v1/generate-image-to-image — see SPEC §2.1 and _shared/handlers/generate.ts.
import { createApp, methodNotAllowed } from "../_shared/app.ts";
import { requireUser } from "../_shared/auth.ts";
import { loadConfig } from "../_shared/config.ts";
import { createGenerateHandler } from "../_shared/handlers/generate.ts";
import { createServices } from "../_shared/services.ts";

const config = loadConfig();
const { app, log } = createApp("generate-image-to-image", config);
const services = createServices(config, log);

app.use("*", requireUser(config));
app.post("/", createGenerateHandler("image_to_image", services));
app.all("/", () => methodNotAllowed(["POST"]));

Deno.serve(app.fetch);
