// Request/response helpers of the Storage stand-in that need neither the database nor a caller:
// JSON answers, Supabase's size strings, MIME rules, object keys and byte ranges.
import { Errors, StorageError } from "./errors.ts";

export const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const BUCKET_NAME_RE = /^(\w|!|-|\.|\*|'|\(|\)| |&|\$|@|=|;|:|\+|,|\?)*$/;

export function json(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json; charset=utf-8", ...headers },
  });
}

/** The request's JSON body as an object; anything unreadable counts as `{}`, as before. */
export async function bodyOf(req: Request): Promise<Record<string, unknown>> {
  return await req.json().catch(() => ({})) as Record<string, unknown>;
}

/** Parses Supabase's size strings ("20MB", "1.5GB", 1024) into bytes. */
export function parseSize(v: unknown): number | null {
  if (v === null || v === undefined || v === "") return null;
  if (typeof v === "number" && Number.isFinite(v) && v >= 0) return Math.floor(v);
  const m = /^\s*(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|TB)?\s*$/i.exec(String(v));
  if (!m) {
    throw new StorageError(
      400,
      "InvalidRequest",
      "Invalid file size format, hint: use 20GB / 20MB / 30KB / 3B",
    );
  }
  const mult: Record<string, number> = {
    B: 1,
    KB: 1024,
    MB: 1024 ** 2,
    GB: 1024 ** 3,
    TB: 1024 ** 4,
  };
  return Math.floor(Number(m[1]) * mult[(m[2] ?? "B").toUpperCase()]);
}

export function mimeAllowed(mime: string, allowed: string[] | null): boolean {
  if (!allowed || allowed.length === 0) return true;
  const essence = mime.split(";")[0].trim().toLowerCase();
  return allowed.some((a) => {
    const rule = a.trim().toLowerCase();
    if (rule.endsWith("/*")) return essence.startsWith(rule.slice(0, -1));
    return rule === essence || rule === mime.trim().toLowerCase();
  });
}

export function validateKey(name: string): void {
  if (
    !name || name.split("/").some((p) => p === "" || p === "." || p === "..") ||
    [...name].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f)
  ) {
    throw Errors.invalidKey(name);
  }
}

/** Parses a single `bytes=` range; null = serve everything; throws InvalidRange if unsatisfiable. */
export function parseRange(header: string | null, size: number): [number, number] | null {
  if (!header) return null;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === "" && m[2] === "")) return null; // malformed or multi-range: ignored (RFC 9110)
  let start: number;
  let end: number;
  if (m[1] === "") {
    const suffix = Number(m[2]);
    if (suffix === 0) throw Errors.invalidRange(size);
    start = Math.max(0, size - suffix);
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === "" ? size - 1 : Math.min(Number(m[2]), size - 1);
    if (m[2] !== "" && Number(m[2]) < start) throw Errors.invalidRange(size);
  }
  if (start >= size || size === 0) throw Errors.invalidRange(size);
  return [start, end];
}
