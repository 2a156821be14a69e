// Prompt markers (both image routes): [sim:moderation] → 400 moderation_blocked
// (image_generation_user_error); [sim:429] → 429 rate_limit_exceeded + retry-after; [sim:quota] →
// 429 insufficient_quota; [sim:500] → 500 server_error; [sim:503] → 503 overloaded;
// [sim:slow=MS] → answer after MS.
import { parseMarkers, sleep } from "../mod.ts";
import { OpenAIError } from "./errors.ts";
import type { OpenAIState } from "./state.ts";

/** The prompt markers shared by edits and generations: latency, then the error they ask for. */
export async function promptOutcome(
  s: OpenAIState,
  prompt: string,
  requestId: string,
): Promise<void> {
  const marks = parseMarkers(prompt);
  const slow = Number(marks.get("slow"));
  const wait = slow > 0 ? slow : s.config.latencyMs;
  if (wait > 0) await sleep(wait);
  if (marks.has("moderation")) {
    throw new OpenAIError(
      400,
      `Your request was rejected by the safety system. If you believe this is an error, contact us at help.openai.com and include the request ID ${requestId}. safety_violations=[violence].`,
      "image_generation_user_error",
      null,
      "moderation_blocked",
      {},
      { moderation_details: { moderation_stage: "input", categories: ["violence"] } },
    );
  }
  if (marks.has("429")) {
    throw new OpenAIError(
      429,
      "Rate limit reached for gpt-image-1 on images per minute. Please try again later.",
      "requests",
      null,
      "rate_limit_exceeded",
      { "retry-after": String(s.config.retryAfterSec) },
    );
  }
  if (marks.has("quota")) {
    throw new OpenAIError(
      429,
      "You exceeded your current quota, please check your plan and billing details.",
      "insufficient_quota",
      null,
      "insufficient_quota",
    );
  }
  if (marks.has("500")) {
    throw new OpenAIError(
      500,
      "The server had an error while processing your request. Sorry about that!",
      "server_error",
      null,
      null,
    );
  }
  if (marks.has("503")) {
    throw new OpenAIError(
      503,
      "The engine is currently overloaded, please try again later.",
      "server_error",
      null,
      null,
    );
  }
}
