import { Validator } from "@cfworker/json-schema";
import { invalidRequest } from "./api-error.ts";
import { asObject, type JsonObject } from "./validate.ts";

/**
 * JSON answers: `response_format` `json_object` / `json_schema`
 * (chat) or `text.format` (Responses). Coze is told to answer with JSON
 * only; the JSON is taken out of the answer (code fences removed) and
 * checked against the schema when one is given.
 */
export type ResponseFormat =
  | { type: "text" }
  | { type: "json_object" }
  | { type: "json_schema"; name: string; schema: JsonObject; validator: Validator };

/** `response_format` of a chat request, or `text.format` of a Responses request (`flat`: the schema's fields sit on the format itself). */
export function parseResponseFormat(raw: unknown, param: string, flat: boolean): ResponseFormat {
  if (raw === undefined || raw === null) return { type: "text" };
  const format = asObject(raw, param);
  if (format.type === "text") return { type: "text" };
  if (format.type === "json_object") return { type: "json_object" };
  if (format.type !== "json_schema") throw invalidRequest(`'${param}.type' must be 'text', 'json_object' or 'json_schema'.`, `${param}.type`);
  const spec = flat ? format : asObject(format.json_schema, `${param}.json_schema`);
  const where = flat ? param : `${param}.json_schema`;
  const name = typeof spec.name === "string" && spec.name !== "" ? spec.name : "answer";
  const schema = asObject(spec.schema ?? {}, `${where}.schema`);
  let validator: Validator;
  try {
    validator = new Validator(schema as never, "2020-12", false);
    validator.validate(null); // a broken schema (a bad $ref…) fails here, not on Coze's answer
  } catch (error) {
    throw invalidRequest(`'${where}.schema' is not a usable JSON Schema: ${(error as Error).message}`, `${where}.schema`);
  }
  return { type: "json_schema", name, schema, validator };
}

/** What Coze is told when the client wants JSON. */
export function formatInstruction(format: ResponseFormat): string | undefined {
  if (format.type === "text") return undefined;
  const base = "Answer with nothing but one valid JSON object: no text before or after it, no code fences.";
  if (format.type === "json_object") return base;
  return `${base}\nThe JSON must match this JSON Schema:\n${JSON.stringify(format.schema)}`;
}

/**
 * The JSON an answer holds: the whole answer, or the one code-fenced block
 * that is the whole answer. `undefined` when there is none.
 */
export function extractJson(answer: string): { text: string; value: unknown } | undefined {
  const text = unfence(answer.trim());
  if (!text.startsWith("{") && !text.startsWith("[")) return undefined;
  try {
    return { text, value: JSON.parse(text) };
  } catch {
    return undefined;
  }
}

const FENCED = /^```[a-zA-Z0-9_-]*[ \t]*\n([\s\S]*?)\n?```$/;

function unfence(text: string): string {
  const match = FENCED.exec(text);
  return match ? match[1].trim() : text;
}

/** Why a JSON answer does not hold, for the re-ask and the 502; `undefined` when it does. */
export function jsonProblem(answer: string, format: ResponseFormat): { problem?: string; json?: string } {
  if (format.type === "text") return {};
  const found = extractJson(answer);
  if (!found) return { problem: "the answer is not valid JSON" };
  if (format.type === "json_object") {
    if (found.value === null || typeof found.value !== "object" || Array.isArray(found.value)) return { problem: "the answer is not a JSON object" };
    return { json: found.text };
  }
  const result = format.validator.validate(found.value);
  if (result.valid) return { json: found.text };
  const first = result.errors.find((e) => e.keyword !== "properties" && e.keyword !== "items") ?? result.errors[0];
  return { problem: `the JSON does not match the schema (${first.instanceLocation}: ${first.error})` };
}
