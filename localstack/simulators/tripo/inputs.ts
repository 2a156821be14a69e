// Input files: POST /v2/openapi/upload (multipart `file`, png/jpeg/webp by magic bytes →
// {image_token}), and the file objects an image or multiview task names (`file_token` of an
// upload, an http(s) `url`, fetched and checked, or a storage `object`).
import { sniffImage } from "../images.ts";
import { type LogEntry, summarize } from "../mod.ts";
import { auth } from "./auth.ts";
import { ok, TripoError } from "./envelope.ts";
import type { TripoState } from "./state.ts";

/** Checks a task's input file object; the texts its markers may come from go to `markerTexts`. */
export async function resolveFile(
  s: TripoState,
  keyId: string,
  f: unknown,
  field: string,
  markerTexts: string[],
): Promise<void> {
  if (!f || typeof f !== "object" || Array.isArray(f)) {
    throw new TripoError(400, 1004, `${field} must be a file object`);
  }
  const o = f as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (!["type", "file_token", "url", "object"].includes(k)) {
      throw new TripoError(400, 1004, `Unknown parameter ${field}.${k}`);
    }
  }
  if (o.type !== undefined && typeof o.type !== "string") {
    throw new TripoError(400, 1004, `${field}.type must be a string`);
  }
  const sources = ["file_token", "url", "object"].filter((k) => o[k] !== undefined);
  if (sources.length !== 1) {
    throw new TripoError(400, 1004, `${field} needs exactly one of file_token, url, object`);
  }
  if (o.file_token !== undefined) {
    const up = typeof o.file_token === "string" ? s.uploads.get(o.file_token) : undefined;
    if (!up || up.keyId !== keyId) {
      throw new TripoError(400, 2003, `${field}.file_token does not refer to an uploaded file`);
    }
    markerTexts.push(up.filename);
    return;
  }
  if (o.url !== undefined) {
    if (typeof o.url !== "string" || !/^https?:\/\//.test(o.url)) {
      throw new TripoError(400, 1004, `${field}.url must be an http(s) URL`);
    }
    markerTexts.push(o.url);
    let bytes: Uint8Array;
    try {
      const { fetchInput } = s; // called unbound, as it was given
      const r = await fetchInput(o.url, { signal: AbortSignal.timeout(15000) });
      if (!r.ok) {
        await r.body?.cancel();
        throw new Error(`status ${r.status}`);
      }
      bytes = new Uint8Array(await r.arrayBuffer());
    } catch (e) {
      throw new TripoError(
        400,
        1004,
        `${field}.url could not be fetched (${(e as Error).message})`,
      );
    }
    if (bytes.length === 0) throw new TripoError(400, 2003, `${field}: input file is empty`);
    if (bytes.length > 20 * 1024 * 1024) {
      throw new TripoError(400, 1004, `${field}: file exceeds 20 MB`);
    }
    if (!sniffImage(bytes)) {
      throw new TripoError(400, 2004, `${field}: unsupported file type`);
    }
    return;
  }
  const obj = o.object as Record<string, unknown> | undefined;
  if (!obj || typeof obj.bucket !== "string" || typeof obj.key !== "string") {
    throw new TripoError(400, 1004, `${field}.object needs bucket and key`);
  }
  throw new TripoError(404, 2019, "File not found in storage");
}

export async function upload(s: TripoState, req: Request, entry: LogEntry): Promise<Response> {
  const keyId = await auth(req, entry);
  let form: FormData;
  try {
    form = await req.formData();
  } catch {
    throw new TripoError(400, 1003, "Expected a multipart/form-data body");
  }
  const parts: unknown[] = [];
  for (const [name, v] of form.entries()) {
    parts.push(
      typeof v === "string"
        ? { name, value: summarize(v) }
        : { name, filename: v.name, type: v.type, size: v.size },
    );
  }
  entry.body = { parts };
  const file = form.get("file");
  if (!(file instanceof File)) throw new TripoError(400, 1003, "Missing multipart field file");
  const bytes = new Uint8Array(await file.arrayBuffer());
  if (bytes.length === 0) throw new TripoError(400, 2003, "The input file is empty");
  if (bytes.length > 20 * 1024 * 1024) throw new TripoError(400, 1004, "File exceeds 20 MB");
  const kind = sniffImage(bytes);
  if (!kind) {
    throw new TripoError(400, 2004, "Unsupported file type; use webp, jpeg or png");
  }
  const token = crypto.randomUUID();
  s.uploads.set(token, { keyId, kind, size: bytes.length, filename: file.name });
  s.stats.uploads++;
  return ok({ image_token: token });
}
