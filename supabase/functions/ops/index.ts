// GET /functions/v1/ops — the operators' view of the queue, failures by code and credits, for
// signed-in users whose app_metadata marks them operators (SPEC §10; _shared/handlers/ops.ts).
import { createApp, methodNotAllowed } from "../_shared/app.ts";
import { requireOperator, requireUser } from "../_shared/auth.ts";
import { loadConfig } from "../_shared/config.ts";
import { createOpsHandlers } from "../_shared/handlers/ops.ts";
import { createServices } from "../_shared/services.ts";

const config = loadConfig(Deno.env.toObject(), { userTokens: true });
const { app, log } = createApp("ops", config);
const handlers = createOpsHandlers(createServices(config, log));

app.use("*", requireUser(config), requireOperator());
app.get("/", handlers.overview);
app.all("/", () => methodNotAllowed(["GET"]));

Deno.serve(app.fetch);
