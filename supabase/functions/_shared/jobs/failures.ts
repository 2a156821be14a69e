// Every code a failed (or retried) job can carry in `jobs.error_code`, with the fixed, user-safe
// sentence stored beside it. One list for TypeScript and SQL: the jobs table's
// `jobs_error_code_known` check constraint names exactly these codes, and a unit test keeps the
// two equal. The README's "Job failure codes" table is this list.
export const JOB_FAILURES = {
  // The provider refused or failed (providers/errors.ts classifies them).
  rate_limited: "The generation service is busy. The request will be retried shortly.",
  provider_unavailable: "The generation service is temporarily unavailable.",
  content_policy: "The request was rejected by the provider's content policy.",
  invalid_request: "The generation service rejected the request parameters.",
  insufficient_credits: "The generation service account has no credits left.",
  auth_failed: "The generation service is misconfigured (authentication failed).",
  timeout: "The generation service did not answer in time.",
  network: "The generation service could not be reached.",
  bad_response: "The generation service returned an unexpected response.",
  task_failed: "The generation failed at the provider.",
  task_expired: "The generation expired in the provider's queue.",
  task_cancelled: "The generation was cancelled at the provider.",
  task_not_found: "The provider no longer knows this generation task.",
  // The BFF's own outcomes.
  submission_unknown:
    "The AI provider did not confirm the job and it was not resubmitted, to avoid charging twice. Please try again.",
  output_invalid: "The AI provider returned an unusable file.",
  output_unavailable: "The result could not be downloaded yet; retrying.",
  storage_failed: "The result could not be stored.",
  internal_retry: "A temporary problem occurred; retrying.",
  // Set by the SQL state machine itself.
  deadline_exceeded: "The job did not finish in time.",
  cancelled: "Cancelled by the user.",
  credits_exhausted: "Not enough credits for this conversion; nothing was charged.",
} as const;

export type JobFailureCode = keyof typeof JOB_FAILURES;

export const JOB_FAILURE_CODES = Object.keys(JOB_FAILURES) as JobFailureCode[];
