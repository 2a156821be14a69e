// Auth of the image routes: `Authorization: Bearer sk-…`, else 401 invalid_api_key. The key is
// logged only as a fingerprint.
import { keyFingerprint, type LogEntry } from "../mod.ts";
import { OpenAIError } from "./errors.ts";

export async function auth(req: Request, entry: LogEntry) {
  const m = (req.headers.get("authorization") ?? "").match(/^Bearer\s+(\S+)$/i);
  if (!m || !m[1].startsWith("sk-")) {
    entry.authOk = false;
    throw new OpenAIError(
      401,
      "Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.",
      "invalid_request_error",
      null,
      "invalid_api_key",
    );
  }
  entry.authOk = true;
  entry.keyId = await keyFingerprint(m[1]);
}
