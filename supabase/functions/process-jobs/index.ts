// POST /functions/v1/process-jobs — the job runner, called by pg_cron (through pg_net) and
// nudged after each enqueue; never by a user. See _shared/jobs/worker.ts.
import { createApp, methodNotAllowed } from "../_shared/app.ts";
import { requireService } from "../_shared/auth.ts";
import { loadConfig } from "../_shared/config.ts";
import { createProcessJobsHandler } from "../_shared/handlers/process_jobs.ts";
import { createWorker } from "../_shared/jobs/worker.ts";
import { createServices } from "../_shared/services.ts";

const config = loadConfig(Deno.env.toObject(), { secretKey: true, providers: true });
const { app, log } = createApp("process-jobs", config);
const services = createServices(config, log);
const worker = createWorker(services);

app.use("*", requireService(config));
app.post("/", createProcessJobsHandler(worker, services));
app.all("/", () => methodNotAllowed(["POST"]));

Deno.serve(app.fetch);
