// GET /functions/v1/task-status/{job_id}?service=openai|tripoai, and DELETE (or POST …/cancel)
// to cancel — see SPEC §2.2 and _shared/handlers/task_status.ts.
import { createApp, methodNotAllowed } from "../_shared/app.ts";
import { requireUser } from "../_shared/auth.ts";
import { loadConfig } from "../_shared/config.ts";
import { createTaskStatusHandlers } from "../_shared/handlers/task_status.ts";
import { createServices } from "../_shared/services.ts";

const config = loadConfig(Deno.env.toObject(), { userTokens: true });
const { app, log } = createApp("task-status", config);
const handlers = createTaskStatusHandlers(createServices(config, log));

app.use("*", requireUser(config));
app.get("/:job_id", handlers.get);
app.delete("/:job_id", handlers.cancel);
app.post("/:job_id/cancel", handlers.cancel);
app.all("/:job_id", () => methodNotAllowed(["GET", "DELETE"]));

Deno.serve(app.fetch);
