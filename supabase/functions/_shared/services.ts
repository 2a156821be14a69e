// What a function needs, built once per isolate from the validated config.
import type { Logger } from "./app.ts";
import type { Config } from "./config.ts";
import { createDb } from "./db.ts";
import { createStorage } from "./storage.ts";
import { createNudger } from "./jobs/nudge.ts";

export function createServices(config: Config, log: Logger) {
  const db = createDb(config);
  return {
    config,
    log,
    db,
    storage: createStorage(config),
    nudge: createNudger(config, db, (msg) => log("warn", msg)),
  };
}
export type Services = ReturnType<typeof createServices>;
