// GoTrue's answers: JSON with its API version header, and errors in the shape the client's
// declared API version expects.

export const API_VERSION = "2024-01-01";

export class AuthError extends Error {
  constructor(
    readonly status: number,
    readonly errorCode: string,
    message: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

export const E = {
  invalidCredentials: () => new AuthError(400, "invalid_credentials", "Invalid login credentials"),
  notAdmin: () => new AuthError(403, "not_admin", "User not allowed"),
  noAuthorization: () =>
    new AuthError(401, "no_authorization", "This endpoint requires a valid Bearer token"),
  badJwt: (why: string) => new AuthError(403, "bad_jwt", `invalid JWT: ${why}`),
  userNotFound: () => new AuthError(404, "user_not_found", "User not found"),
  validation: (msg: string) => new AuthError(400, "validation_failed", msg),
  weakPassword: (min: number) =>
    new AuthError(422, "weak_password", `Password should be at least ${min} characters.`, {
      weak_password: { reasons: ["length"] },
    }),
  emailExists: () =>
    new AuthError(
      422,
      "email_exists",
      "A user with this email address has already been registered",
    ),
  refreshTokenNotFound: () =>
    new AuthError(400, "refresh_token_not_found", "Invalid Refresh Token: Refresh Token Not Found"),
  unexpected: () => new AuthError(500, "unexpected_failure", "Internal Server Error"),
};

export function respond(body: unknown, status = 200): Response {
  return new Response(body === null ? null : JSON.stringify(body), {
    status,
    headers: {
      "content-type": "application/json",
      "x-supabase-api-version": API_VERSION,
    },
  });
}

export function errorResponse(req: Request, e: AuthError): Response {
  // GoTrue answers clients that declare API version >= 2024-01-01 with {code, message} and
  // everyone else with the legacy {code: <status>, error_code, msg}.
  const v = req.headers.get("x-supabase-api-version");
  const versioned = v !== null && /^\d{4}-\d{2}-\d{2}$/.test(v) && v >= API_VERSION;
  const body = versioned
    ? { code: e.errorCode, message: e.message, ...e.extra }
    : { code: e.status, error_code: e.errorCode, msg: e.message, ...e.extra };
  return respond(body, e.status);
}
