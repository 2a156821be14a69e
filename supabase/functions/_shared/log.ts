// Structured logs: one JSON line per event, never a token or key (callers pass only ids,
// statuses and sanitized messages).
export type Level = "debug" | "info" | "warn" | "error";
const LEVELS: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

type Fields = Record<string, unknown>;
/** `fields` may be a function: it is only called when the line is written (hot paths). */
export type Logger = (level: Level, msg: string, fields?: Fields | (() => Fields)) => void;

export function createLogger(fn: string, minLevel: Level = "info"): Logger {
  return (level, msg, fields = {}) => {
    if (LEVELS[level] < LEVELS[minLevel]) return;
    const f = typeof fields === "function" ? fields() : fields;
    const line = JSON.stringify({ level, fn, msg, ...f, t: new Date().toISOString() });
    if (level === "error" || level === "warn") console.error(line);
    else console.log(line);
  };
}

/** An error as one short log field (name and message, no stack). */
export function errorText(e: unknown): string {
  return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
}
