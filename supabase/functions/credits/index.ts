// /functions/v1/credits — GET / and GET /prices for the signed-in user; POST /grant and
// PUT /prices for the project's services (the secret key) only. See SPEC §11 and
// _shared/handlers/credits.ts.
import { createApp, methodNotAllowed } from "../_shared/app.ts";
import { requireService, requireUser } from "../_shared/auth.ts";
import { loadConfig } from "../_shared/config.ts";
import { createCreditsHandlers } from "../_shared/handlers/credits.ts";
import { createServices } from "../_shared/services.ts";

const config = loadConfig(Deno.env.toObject(), { userTokens: true, secretKey: true });
const { app, log } = createApp("credits", config);
const handlers = createCreditsHandlers(createServices(config, log));

app.get("/", requireUser(config), handlers.statement);
app.get("/prices", requireUser(config), handlers.prices);
app.put("/prices", requireService(config), handlers.setPrices);
app.post("/grant", requireService(config), handlers.grant);
app.all("/", () => methodNotAllowed(["GET"]));
app.all("/prices", () => methodNotAllowed(["GET", "PUT"]));
app.all("/grant", () => methodNotAllowed(["POST"]));

Deno.serve(app.fetch);
