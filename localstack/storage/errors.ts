// Storage API errors in the shape supabase/storage renders them: the body carries the real
// status in `statusCode` (a string), while the HTTP status is 400 for every non-500 error,
// except the few the server overrides (403 for a bad JWT, 416 for an unsatisfiable range, 544
// for a DB timeout).
import { describeFailure } from "../db/standin_pool.ts";

export class StorageError extends Error {
  constructor(
    /** The "real" status, rendered as `statusCode` in the body. */
    readonly statusCode: number,
    readonly code: string,
    message: string,
    /** Legacy `error` field; defaults to `code`. */
    readonly legacyError?: string,
    /** HTTP status override; default 400 (500 stays 500). */
    readonly httpStatus?: number,
    readonly headers?: Record<string, string>,
  ) {
    super(message);
  }

  toResponse(method = "GET"): Response {
    const status = this.httpStatus ?? (this.statusCode === 500 ? 500 : 400);
    const body = method === "HEAD" ? null : JSON.stringify({
      statusCode: String(this.statusCode),
      code: this.code,
      error: this.legacyError ?? this.code,
      message: this.message,
    });
    return new Response(body, {
      status,
      headers: { "content-type": "application/json; charset=utf-8", ...this.headers },
    });
  }
}

export const Errors = {
  // Storage answers a bad JWT with HTTP 403 itself (one of its status overrides).
  invalidJwt: (message: string) =>
    new StorageError(403, "InvalidJWT", message, "Unauthorized", 403),
  accessDenied: (message = "new row violates row-level security policy") =>
    new StorageError(403, "AccessDenied", message, "Unauthorized"),
  noSuchBucket: () => new StorageError(404, "NoSuchBucket", "Bucket not found", "Bucket not found"),
  noSuchKey: () => new StorageError(404, "NoSuchKey", "Object not found", "not_found"),
  duplicateKey: () =>
    new StorageError(409, "KeyAlreadyExists", "The resource already exists", "Duplicate"),
  duplicateBucket: () =>
    new StorageError(409, "BucketAlreadyExists", "The resource already exists", "Duplicate"),
  bucketNotEmpty: () =>
    new StorageError(409, "ResourceNotEmpty", "The bucket you tried to delete is not empty"),
  entityTooLarge: () =>
    new StorageError(
      413,
      "EntityTooLarge",
      "The object exceeded the maximum allowed size",
      "Payload too large",
    ),
  invalidMimeType: (mime: string) =>
    new StorageError(
      415,
      "InvalidMimeType",
      `mime type ${mime} is not supported`,
      "invalid_mime_type",
    ),
  invalidRange: (size: number) =>
    new StorageError(416, "InvalidRange", "invalid range provided", "invalid_range", 416, {
      "content-range": `bytes */${size}`,
    }),
  invalidKey: (key: string) => new StorageError(400, "InvalidKey", `Invalid key: ${key}`),
  invalidBucketName: () =>
    new StorageError(400, "InvalidBucketName", "Bucket name invalid", "Invalid Input"),
  invalidRequest: (message: string) => new StorageError(400, "InvalidRequest", message),
  invalidSignedToken: (message: string) => new StorageError(400, "InvalidJWT", message),
  invalidSignature: () => new StorageError(400, "InvalidSignature", "Invalid signature"),
  notFound: (message = "Route not found") =>
    new StorageError(404, "NotFound", message, "Not Found"),
  internal: (message = "Internal server error") =>
    new StorageError(500, "InternalError", message, "Internal"),
};

/** Maps a Postgres error raised by a caller-role statement to the Storage error it becomes. */
export function fromDbError(err: unknown, kind: "object" | "bucket" = "object"): StorageError {
  const code = (err as { code?: string })?.code;
  if (code === "42501") return Errors.accessDenied();
  if (code === "23505") return kind === "bucket" ? Errors.duplicateBucket() : Errors.duplicateKey();
  if (code === "23503") return Errors.noSuchBucket();
  if (code === "57014") {
    return new StorageError(
      544,
      "DatabaseTimeout",
      "The connection to the database timed out",
      undefined,
      544,
    );
  }
  if (err instanceof StorageError) return err;
  console.error("[storage] unexpected error", describeFailure(err));
  return Errors.internal();
}
