// What a function needs, built once per isolate from the validated config.
import type { Config } from "./config.ts";
import { createDb } from "./db.ts";
import type { Logger } from "./log.ts";
import { createStorage } from "./storage/adapter.ts";
import { createNudger } from "./jobs/nudge.ts";

export function createServices(config: Config, log: Logger) {
  return {
    config,
    log,
    db: createDb(config),
    storage: createStorage(config),
    nudge: createNudger(config, (msg) => log("warn", msg)),
  };
}
export type Services = ReturnType<typeof createServices>;
