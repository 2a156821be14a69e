// The app of every generation function: the shared factory, the user check, the one POST route
// of its job kind (the flow is handlers/generate.ts, the kind's specifics jobs/plans.ts).
import type { Hono } from "hono";
import { createApp, methodNotAllowed } from "./app.ts";
import { requireUser } from "./auth.ts";
import { loadConfig } from "./config.ts";
import type { AppEnv } from "./context.ts";
import { createGenerateHandler } from "./handlers/generate.ts";
import type { Plan } from "./jobs/plans.ts";
import type { z } from "zod";
import { createServices } from "./services.ts";

export function generationApp<B extends z.ZodType<{ task_id: string }>>(
  name: string,
  plan: Plan<B>,
): Hono<AppEnv> {
  const config = loadConfig(Deno.env.toObject(), { userTokens: true });
  const { app, log } = createApp(name, config);
  const services = createServices(config, log);
  app.use("*", requireUser(config));
  app.post("/", createGenerateHandler(plan, services));
  app.all("/", () => methodNotAllowed(["POST"]));
  return app;
}
