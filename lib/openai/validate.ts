import { invalidRequest } from "./api-error.ts";

/** Small checks shared by the request parsers; each names the field it refuses. */

export type JsonObject = Record<string, unknown>;

export function asObject(value: unknown, param: string | null): JsonObject {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw invalidRequest(param ? `'${param}' must be an object.` : "The request body must be a JSON object.", param);
  }
  return value as JsonObject;
}

export function requiredString(body: JsonObject, key: string, param = key): string {
  const value = body[key];
  if (value === undefined || value === null) throw invalidRequest(`'${param}' is required.`, param);
  if (typeof value !== "string") throw invalidRequest(`'${param}' must be a string.`, param);
  if (value.trim() === "") throw invalidRequest(`'${param}' must not be empty.`, param);
  return value;
}

export function optionalString(body: JsonObject, key: string): string | undefined {
  const value = body[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "string") throw invalidRequest(`'${key}' must be a string.`, key);
  return value;
}

export function optionalBoolean(body: JsonObject, key: string, param = key): boolean | undefined {
  const value = body[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "boolean") throw invalidRequest(`'${param}' must be true or false.`, param);
  return value;
}
