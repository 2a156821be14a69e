// Auth of the provider API: `Authorization: Bearer tsk_…`, else 401/1002. The key is logged only as
// a fingerprint.
import { keyFingerprint, type LogEntry } from "../mod.ts";
import { TripoError } from "./envelope.ts";

/** The key's fingerprint (its id in the simulator's tasks and uploads). */
export async function auth(req: Request, entry: LogEntry): Promise<string> {
  const h = req.headers.get("authorization") ?? "";
  const m = h.match(/^Bearer\s+(\S+)$/i);
  if (!m || !m[1].startsWith("tsk_") || m[1].length < 8) {
    entry.authOk = false;
    throw new TripoError(
      401,
      1002,
      "Authentication failed",
      "Check that your API key is correct and starts with tsk_",
    );
  }
  entry.authOk = true;
  entry.keyId = await keyFingerprint(m[1]);
  return entry.keyId;
}
