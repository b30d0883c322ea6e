/**
 * How a capable model follows what the service asks of an answer: the
 * functions it may call (answered with `{"tool_calls": [...]}`) and JSON
 * (one object, matching the schema when one is given). Both simulated Cozes
 * (Discord and API) use it for their default answers, so that the demo shows
 * function calling and JSON mode working. It reads only the text Coze is
 * sent, the way Coze's model does, and imports nothing of the product.
 *
 * A prompt that says "ignore instructions" gets a bot that does not follow
 * them (as some Coze bots' own prompts make them do): the service's re-ask
 * and its 502 are what such a bot exercises.
 */

export const IGNORE_KEYWORD = /\bignore (the )?instructions\b/i;

const TOOLS_HEAD = "You can call these functions (JSON Schema parameters):";
const JSON_HEAD = "Answer with nothing but one valid JSON object";
const SCHEMA_HEAD = "The JSON must match this JSON Schema:";
const TOOL_RESULT = /^Tool \(([^,]+), [^)]+\): ([\s\S]*)$/;
const REASK = /^(User: )?Your answer (did not call|could not be used)/m;

interface Tool {
  name: string;
  description?: string;
  parameters?: Schema;
}
type Schema = { [key: string]: unknown };

interface Asked {
  tools: Tool[];
  choice: "auto" | "required" | { name: string };
  json: boolean;
  schema?: Schema;
}

/**
 * The answer a model following the instructions gives to `prompt` (the text
 * of this turn) after `earlier` (the texts of the conversation before it,
 * oldest first), or undefined when nothing was asked of the answer or the
 * bot was told to ignore it: then the bot answers as it always does.
 */
export function followInstructions(prompt: string, earlier: string[] = []): string | undefined {
  if ([prompt, ...earlier].some((text) => IGNORE_KEYWORD.test(text))) return undefined;
  // A re-ask ("Your answer did not call…") carries no instruction of its own: the model reads it from the turn before.
  const source = readInstructions(prompt) ?? (REASK.test(prompt) ? earlier.map(readInstructions).findLast((a) => a !== undefined) : undefined);
  if (!source) return undefined;
  const question = questionOf(REASK.test(prompt) ? (earlier.findLast((t) => readInstructions(t)) ?? prompt) : prompt);
  const results = toolResults(prompt);
  if (source.tools.length > 0 && (source.choice !== "auto" || results.length === 0)) {
    const tool = chooseTool(source, question);
    if (tool) return JSON.stringify({ tool_calls: [{ name: tool.name, arguments: sample(tool.parameters ?? { type: "object" }, "", question, true) }] });
  }
  const prose = results.length > 0 ? results.map((r) => `${r.name} returned ${r.value}.`).join(" ") : `You asked: ${question}`;
  if (source.json) return JSON.stringify(source.schema ? sample(source.schema, "answer", question, false) : { answer: prose });
  return prose;
}

/** What the instruction paragraph at the end of a text asks, if it has one. */
function readInstructions(text: string): Asked | undefined {
  const asked: Asked = { tools: [], choice: "auto", json: false };
  const toolsAt = text.indexOf(TOOLS_HEAD);
  if (toolsAt !== -1) {
    const line = text.slice(toolsAt + TOOLS_HEAD.length).trimStart().split("\n")[0];
    try {
      asked.tools = (JSON.parse(line) as Tool[]).filter((t) => typeof t?.name === "string");
    } catch {
      asked.tools = [];
    }
    const named = /You must call the function "([^"]+)" now\./.exec(text);
    if (named) asked.choice = { name: named[1] };
    else if (text.includes("You must call at least one function now.")) asked.choice = "required";
  }
  if (text.includes(JSON_HEAD)) {
    asked.json = true;
    const schemaAt = text.indexOf(SCHEMA_HEAD);
    if (schemaAt !== -1) {
      try {
        asked.schema = JSON.parse(text.slice(schemaAt + SCHEMA_HEAD.length).trimStart().split("\n")[0]) as Schema;
      } catch {
        asked.schema = undefined;
      }
    }
  }
  return asked.tools.length > 0 || asked.json ? asked : undefined;
}

/** The user's own words in a turn: before the instruction, the last `User: ` paragraph, label removed. */
function questionOf(text: string): string {
  const cut = [TOOLS_HEAD, JSON_HEAD].map((head) => text.indexOf(head)).filter((i) => i !== -1);
  const before = cut.length > 0 ? text.slice(0, Math.min(...cut)) : text;
  const paragraphs = before.split("\n\n").map((p) => p.trim()).filter((p) => p !== "");
  const user = paragraphs.findLast((p) => /^User( \([^)]*\))?: /.test(p)) ?? paragraphs.findLast((p) => !TOOL_RESULT.test(p)) ?? "";
  return user.replace(/^User( \([^)]*\))?: /, "").trim();
}

/** The results of calls the client sent back since the user last spoke (`Tool (name, id): result`). */
function toolResults(text: string): { name: string; value: string }[] {
  const paragraphs = text.split("\n\n").map((p) => p.trim());
  return paragraphs
    .slice(paragraphs.findLastIndex((p) => /^User( \([^)]*\))?: /.test(p)) + 1)
    .map((p) => TOOL_RESULT.exec(p))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ name: m[1], value: m[2].trim() }));
}

const STOPWORDS = new Set(["get", "set", "the", "and", "for", "with", "from", "this", "that", "what", "about", "current", "function"]);

/**
 * The function a model would call: the one required, or (with `auto`) one
 * whose name or description shares a word with the question, as a model
 * calls a weather function for a question about the weather.
 */
function chooseTool(asked: Asked, question: string): Tool | undefined {
  if (typeof asked.choice === "object") {
    const name = asked.choice.name;
    return asked.tools.find((t) => t.name === name);
  }
  const words = new Set(wordsOf(question));
  const related = asked.tools.find((t) => wordsOf(`${t.name.replaceAll(/[_-]/g, " ")} ${t.description ?? ""}`).some((w) => words.has(w)));
  return related ?? (asked.choice === "required" ? asked.tools[0] : undefined);
}

function wordsOf(text: string): string[] {
  return (text.toLowerCase().match(/\p{L}{3,}/gu) ?? []).filter((w) => !STOPWORDS.has(w)).map((w) => w.replace(/s$/, ""));
}

const QUESTION_WORDS = new Set(["What", "What's", "Whats", "How", "When", "Where", "Who", "Which", "Why", "Is", "Are", "Can", "Could", "Please", "Tell", "Give", "The", "A", "An", "I", "Do", "Does"]);

/** The thing a question is about: a capitalised name after "in", "for", "at"…, else the last one, else the last word. */
function subjectOf(question: string): string {
  const after = /\b(?:in|for|at|of|to|from|about)\s+(\p{Lu}[\p{L}-]*(?:\s+\p{Lu}[\p{L}-]*)*)/u.exec(question);
  if (after) return after[1];
  const names = (question.match(/\p{Lu}[\p{L}'-]*/gu) ?? []).filter((w) => !QUESTION_WORDS.has(w));
  if (names.length > 0) return names.at(-1)!;
  return question.match(/[\p{L}\p{N}-]+/gu)?.at(-1) ?? question;
}

/**
 * A value that satisfies `schema`, filled from the question where it can be:
 * strings name its subject, numbers take the first number in it. `arguments`:
 * an object's optional properties are left out, as a model leaves out the
 * arguments it has nothing for.
 */
function sample(schema: Schema, key: string, question: string, argumentsOnly: boolean): unknown {
  if ("const" in schema) return schema.const;
  if (Array.isArray(schema.enum) && schema.enum.length > 0) return schema.enum.find((v) => typeof v === "string" && question.toLowerCase().includes(v.toLowerCase())) ?? schema.enum[0];
  for (const list of ["anyOf", "oneOf", "allOf"]) {
    if (Array.isArray(schema[list]) && (schema[list] as Schema[]).length > 0) return sample((schema[list] as Schema[])[0], key, question, argumentsOnly);
  }
  const type = Array.isArray(schema.type) ? (schema.type.find((t) => t !== "null") ?? "null") : (schema.type ?? (schema.properties ? "object" : "string"));
  switch (type) {
    case "object": {
      const properties = (schema.properties ?? {}) as Record<string, Schema>;
      const required = new Set(Array.isArray(schema.required) ? (schema.required as string[]) : []);
      const out: Record<string, unknown> = {};
      for (const [name, sub] of Object.entries(properties)) {
        if (argumentsOnly && !required.has(name) && Object.keys(properties).length > 1) continue;
        out[name] = sample(sub ?? {}, name, question, false);
      }
      return out;
    }
    case "array": {
      const count = Math.max(1, Number(schema.minItems ?? 1));
      return Array.from({ length: count }, () => sample((schema.items as Schema) ?? {}, key, question, false));
    }
    case "integer":
    case "number": {
      const found = Number(/-?\d+(\.\d+)?/.exec(question)?.[0] ?? 42);
      const min = typeof schema.minimum === "number" ? schema.minimum : -Infinity;
      const max = typeof schema.maximum === "number" ? schema.maximum : Infinity;
      const value = Math.min(max, Math.max(min, found));
      return type === "integer" ? Math.round(value) : value;
    }
    case "boolean":
      return true;
    case "null":
      return null;
    default: {
      if (schema.format === "date") return "2025-01-01";
      if (schema.format === "date-time") return "2025-01-01T00:00:00Z";
      if (schema.format === "email") return "someone@example.com";
      const text = /^(answer|text|reply|summary|description|message|content)$/i.test(key) ? `You asked: ${question}` : subjectOf(question);
      const max = typeof schema.maxLength === "number" ? schema.maxLength : Infinity;
      const min = typeof schema.minLength === "number" ? schema.minLength : 0;
      return text.padEnd(min, ".").slice(0, max);
    }
  }
}
