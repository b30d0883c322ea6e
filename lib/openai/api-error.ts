/**
 * An error answered in OpenAI's shape, `{"error":{message,type,param,code}}`.
 *
 * This is the counterpart of openai-node's error table (`src/core/error.ts`):
 * the status picks the class the SDK throws (400 BadRequestError, 401
 * AuthenticationError, 404 NotFoundError, 413 APIError, 429 RateLimitError,
 * 5xx InternalServerError), `type` and `code` let a caller tell cases apart.
 * The SDKs retry 408/409/429/5xx by themselves and each retry re-posts to
 * Discord, so errors that a retry would only repeat say `x-should-retry: false`.
 */
export class ApiError extends Error {
  override name = "ApiError";

  constructor(
    readonly status: number,
    message: string,
    readonly type: string,
    readonly code: string | null = null,
    readonly param: string | null = null,
    /** Seconds after which a retry may succeed; sent as `retry-after`. */
    readonly retryAfter?: number,
    /** False when retrying cannot help: nothing but 429 (quota, overload) and 503 (reconnecting) can change by itself. */
    readonly retryable = status === 429 || status === 503,
  ) {
    super(message);
  }

  toJSON() {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }

  headers(): Record<string, string> {
    const headers: Record<string, string> = {};
    if (this.retryAfter !== undefined) headers["retry-after"] = String(Math.max(1, Math.ceil(this.retryAfter)));
    if (!this.retryable) headers["x-should-retry"] = "false";
    return headers;
  }

  response(extraHeaders?: Record<string, string>): Response {
    return Response.json(this.toJSON(), { status: this.status, headers: { ...extraHeaders, ...this.headers() } });
  }
}

/** 400: the request is malformed; `param` names the offending field. */
export const invalidRequest = (message: string, param: string | null = null, code: string | null = null) =>
  new ApiError(400, message, "invalid_request_error", code, param);

export const invalidApiKey = () =>
  new ApiError(401, "Incorrect API key provided. Send it as 'Authorization: Bearer KEY'.", "invalid_request_error", "invalid_api_key");

export const modelNotFound = (model: string) =>
  new ApiError(404, `The model '${model}' does not exist. GET /v1/models lists the configured models.`, "invalid_request_error", "model_not_found", "model");

export const routeNotFound = (method: string, path: string) =>
  new ApiError(404, `Unknown request URL: ${method} ${path}.`, "invalid_request_error", "unknown_url");

export const methodNotAllowed = (method: string, path: string) =>
  new ApiError(405, `Method ${method} is not allowed on ${path}.`, "invalid_request_error", "method_not_allowed");

export const bodyTooLarge = (limit: number) =>
  new ApiError(413, `Request body is larger than ${limit} bytes.`, "invalid_request_error", "request_too_large");

/** 429: every bot of the model is out of Coze quota or cooling down. */
export const quotaExhausted = (message: string, retryAfterSeconds: number) =>
  new ApiError(429, message, "rate_limit_error", "rate_limit_exceeded", null, retryAfterSeconds, true);

/** 408: the client did not send its whole body in time. */
export const bodyTimeout = (seconds: number) =>
  new ApiError(408, `The request body did not arrive within ${seconds} s.`, "invalid_request_error", "request_timeout");

/** 429: Discord's rate limit would keep the request waiting past its start deadline. */
export const rateLimited = (message: string, retryAfterSeconds: number) => rateLimitedBy(message, retryAfterSeconds, "discord_rate_limited");

/** 429: a backend's rate limit (`code` says whose) would keep the request waiting past its start deadline. */
export const rateLimitedBy = (message: string, retryAfterSeconds: number, code: string) =>
  new ApiError(429, message, "rate_limit_error", code, null, retryAfterSeconds, true);

/** 429: the service is at its limit of requests in flight. */
export const overloaded = (message: string, retryAfterSeconds: number) =>
  new ApiError(429, message, "rate_limit_error", "overloaded", null, retryAfterSeconds, true);

/** 502: Coze or Discord answered with an error. */
export const upstreamError = (message: string, code = "upstream_error") =>
  new ApiError(502, message, "api_error", code);

/** 503: no bot of the model is connected to Discord. */
export const unavailable = (message: string) => new ApiError(503, message, "api_error", "bot_unavailable");

/** 504: no reply started in time. */
export const replyTimeout = (message: string) => new ApiError(504, message, "api_error", "reply_timeout");

export const internalError = () =>
  new ApiError(500, "The server had an error while processing your request.", "api_error", "internal_error");

/** Any thrown value as an ApiError, without leaking what an unexpected error held. */
export function toApiError(error: unknown): ApiError {
  return error instanceof ApiError ? error : internalError();
}
