import type { ApiError } from "./api-error.ts";
import type { ToolCall } from "./tools.ts";
import type { Usage } from "./usage.ts";

/**
 * The Responses API's shapes, as the openai SDK reads them (its
 * `responses.create` result and the events its `responses.stream` helper
 * accumulates): one assistant message with one `output_text` part, or one
 * `function_call` item per call.
 */
export interface ResponseIdentity {
  id: string;
  messageId: string;
  createdAt: number;
  model: string;
  instructions: string | null;
  previousResponseId: string | null;
}

const random = () => crypto.randomUUID().replaceAll("-", "");

export function responseIdentity(model: string, instructions: string | undefined, previousResponseId: string | undefined): ResponseIdentity {
  return { id: `resp_${random()}`, messageId: `msg_${random()}`, createdAt: Math.floor(Date.now() / 1000), model, instructions: instructions ?? null, previousResponseId: previousResponseId ?? null };
}

type Status = "in_progress" | "completed" | "incomplete" | "failed";

function message(who: ResponseIdentity, text: string, status: "in_progress" | "completed" | "incomplete") {
  return { type: "message", id: who.messageId, status, role: "assistant", content: text === "" && status === "in_progress" ? [] : [outputText(text)] };
}

const outputText = (text: string) => ({ type: "output_text", text, annotations: [], logprobs: [] });

/** A call's item; its id is derived from the call id, so that every event about it names the same item. */
function functionCall(call: ToolCall, status: "in_progress" | "completed", args = call.arguments) {
  return { type: "function_call", id: `fc_${call.id.replace(/^call_/, "")}`, call_id: call.id, name: call.name, arguments: args, status };
}

/** What a response answered: text, or function calls. */
export type ResponseAnswer = { text: string } | { calls: ToolCall[] };

function outputOf(who: ResponseIdentity, status: Status, answer: ResponseAnswer | undefined) {
  if (answer === undefined) return [];
  if ("calls" in answer) return answer.calls.map((call) => functionCall(call, "completed"));
  return [message(who, answer.text, status === "completed" ? "completed" : status === "incomplete" ? "incomplete" : "in_progress")];
}

/** The whole response object; `answer` undefined while nothing is written yet. */
export function responseObject(who: ResponseIdentity, status: Status, answer?: ResponseAnswer, usage?: Usage, error?: ApiError) {
  return {
    id: who.id,
    object: "response",
    created_at: who.createdAt,
    status,
    error: error ? { code: error.code ?? "server_error", message: error.message } : null,
    incomplete_details: status === "incomplete" ? { reason: "max_output_tokens" } : null,
    instructions: who.instructions,
    max_output_tokens: null,
    model: who.model,
    output: outputOf(who, status, answer),
    parallel_tool_calls: true,
    previous_response_id: who.previousResponseId,
    reasoning: { effort: null, summary: null },
    store: true,
    temperature: 1,
    text: { format: { type: "text" } },
    tool_choice: "auto",
    tools: [],
    top_p: 1,
    truncation: "disabled",
    usage: usage
      ? {
          input_tokens: usage.prompt_tokens,
          input_tokens_details: { cached_tokens: 0 },
          output_tokens: usage.completion_tokens,
          output_tokens_details: { reasoning_tokens: 0 },
          total_tokens: usage.total_tokens,
        }
      : null,
    user: null,
    metadata: {},
  };
}

/** The streamed events, in the order the SDK expects; each carries a sequence number. */
export class ResponseEvents {
  private sequence = 0;
  constructor(private readonly who: ResponseIdentity) {}

  private event(type: string, fields: object) {
    return { type, sequence_number: this.sequence++, ...fields };
  }

  created() {
    return [this.event("response.created", { response: responseObject(this.who, "in_progress") }), this.event("response.in_progress", { response: responseObject(this.who, "in_progress") })];
  }

  opened() {
    return [
      this.event("response.output_item.added", { output_index: 0, item: message(this.who, "", "in_progress") }),
      this.event("response.content_part.added", { item_id: this.who.messageId, output_index: 0, content_index: 0, part: outputText("") }),
    ];
  }

  delta(text: string) {
    return this.event("response.output_text.delta", { item_id: this.who.messageId, output_index: 0, content_index: 0, delta: text, logprobs: [] });
  }

  finished(text: string, status: "completed" | "incomplete", usage: Usage) {
    return [
      this.event("response.output_text.done", { item_id: this.who.messageId, output_index: 0, content_index: 0, text, logprobs: [] }),
      this.event("response.content_part.done", { item_id: this.who.messageId, output_index: 0, content_index: 0, part: outputText(text) }),
      this.event("response.output_item.done", { output_index: 0, item: message(this.who, text, status) }),
      this.event(status === "completed" ? "response.completed" : "response.incomplete", { response: responseObject(this.who, status, { text }, usage) }),
    ];
  }

  /** An answer of function calls: each call's item, its arguments (whole, in one delta), and the completed response. */
  called(calls: ToolCall[], usage: Usage) {
    const events = calls.flatMap((call, output_index) => {
      const item_id = functionCall(call, "completed").id;
      return [
        this.event("response.output_item.added", { output_index, item: functionCall(call, "in_progress", "") }),
        this.event("response.function_call_arguments.delta", { item_id, output_index, delta: call.arguments }),
        this.event("response.function_call_arguments.done", { item_id, output_index, name: call.name, arguments: call.arguments }),
        this.event("response.output_item.done", { output_index, item: functionCall(call, "completed") }),
      ];
    });
    return [...events, this.event("response.completed", { response: responseObject(this.who, "completed", { calls }, usage) })];
  }

  failed(error: ApiError) {
    return [this.event("response.failed", { response: responseObject(this.who, "failed", undefined, undefined, error) })];
  }
}
