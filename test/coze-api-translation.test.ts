/**
 * The pure half of the Coze API way in: reading its stream as the
 * official SDK does, assembling an answer from its events, the messages a
 * conversation becomes, and what each error code means.
 */
import { describe, expect, test } from "bun:test";
import { CozeAnswer } from "../lib/coze-api/answer.ts";
import { failureKind } from "../lib/coze-api/failure.ts";
import { toCozeMessages } from "../lib/coze-api/messages.ts";
import { CozeStreamParser } from "../lib/coze-api/stream.ts";

describe("the stream", () => {
  const body = 'event:conversation.chat.created\ndata:{"id":"1","conversation_id":"9"}\n\nevent: conversation.message.delta\ndata: {"type":"answer","content_type":"text","id":"m","content":"Hi"}\n\nevent:done\ndata:"[DONE]"\n\n';

  test("whatever the chunking, the same events; one space after the colon dropped; done's data stays the string it is", () => {
    const whole = new CozeStreamParser().push(body);
    expect(whole.map((e) => e.event)).toEqual(["conversation.chat.created", "conversation.message.delta", "done"]);
    expect(whole[2].data).toBe('"[DONE]"');
    for (const size of [1, 3, 7, 64]) {
      const parser = new CozeStreamParser();
      const events = [];
      for (let i = 0; i < body.length; i += size) events.push(...parser.push(body.slice(i, i + size)));
      events.push(...parser.end());
      expect(events).toEqual(whole);
    }
  });

  test("a body that ends inside a line ended in an error, whose data is that rest", () => {
    const parser = new CozeStreamParser();
    expect(parser.push('{"code":4100,"msg":"bad"}')).toEqual([]);
    expect(parser.end()).toEqual([{ event: "error", data: '{"code":4100,"msg":"bad"}' }]);
  });
});

describe("the answer", () => {
  const ev = (event: string, data: object) => ({ event, data: JSON.stringify(data) });
  const answer = (id: string, content: string, type = "answer") => ({ id, type, content, content_type: "text" });

  test("answer deltas grow the text; several answers join with a newline; follow-ups, verbose and cards are never text", () => {
    const a = new CozeAnswer();
    expect(a.step(ev("conversation.message.delta", answer("1", "Hel")))).toEqual({ kind: "text", text: "Hel" });
    a.step(ev("conversation.message.delta", answer("1", "lo")));
    a.step(ev("conversation.message.completed", answer("1", "Hello")));
    a.step(ev("conversation.message.delta", answer("2", "World")));
    expect(a.step(ev("conversation.message.completed", answer("3", "Tell me more", "follow_up")))).toEqual({ kind: "message" });
    a.step(ev("conversation.message.completed", answer("4", '{"msg_type":"generate_answer_finish"}', "verbose")));
    a.step(ev("conversation.message.completed", { ...answer("5", "{}"), content_type: "card" }));
    expect(a.text).toBe("Hello\nWorld");
  });

  test("an answer is found however its JSON is spaced; a message whose data never says answer is not one", () => {
    const a = new CozeAnswer();
    expect(a.step({ event: "conversation.message.delta", data: JSON.stringify(answer("1", "Hi"), null, 2) })).toEqual({ kind: "text", text: "Hi" });
    expect(a.step(ev("conversation.message.delta", { id: "2", type: "function_call", content: "{}", content_type: "text" }))).toEqual({ kind: "message" });
    expect(a.step(ev("conversation.chat.in_progress", { id: "c" }))).toEqual({ kind: "other" });
    expect(a.text).toBe("Hi");
  });

  test("completed carries usage; failed and error carry the code; done is done", () => {
    const a = new CozeAnswer();
    expect(a.step(ev("conversation.chat.completed", { usage: { token_count: 3, input_count: 1, output_count: 2 } }))).toEqual({ kind: "completed", usage: { token_count: 3, input_count: 1, output_count: 2 } });
    expect(a.step(ev("conversation.chat.failed", { last_error: { code: 4008, msg: "limit" } }))).toEqual({ kind: "failed", code: 4008, msg: "limit" });
    expect(a.step(ev("error", { code: 4100, msg: "auth" }))).toEqual({ kind: "failed", code: 4100, msg: "auth" });
    expect(a.step({ event: "done", data: '"[DONE]"' })).toEqual({ kind: "done" });
  });
});

describe("messages", () => {
  test("roles as Coze takes them; system and tool turns say what they are; the instruction and images close the last user turn", () => {
    const messages = toCozeMessages(
      [
        { role: "system", text: "Be brief.", images: [] },
        { role: "user", text: "hi", images: [], name: "ann" },
        { role: "assistant", text: "hello", images: [] },
        { role: "tool", text: "42", images: [], name: "calc, call_1" },
        { role: "user", text: "and?", images: [] },
      ],
      "Answer in JSON.",
      ["f1"],
    );
    expect(messages.slice(0, 4).map((m) => [m.role, m.type, m.content])).toEqual([
      ["user", "question", "System: Be brief."],
      ["user", "question", "User (ann): hi"],
      ["assistant", "answer", "hello"],
      ["user", "question", "Tool (calc, call_1): 42"],
    ]);
    expect(messages[4].content_type).toBe("object_string");
    expect(JSON.parse(messages[4].content)).toEqual([{ type: "text", text: "and?\n\nAnswer in JSON." }, { type: "image", file_id: "f1" }]);
  });

  test("at most 100, the newest kept", () => {
    const many = Array.from({ length: 130 }, (_, i) => ({ role: "user" as const, text: `m${i}`, images: [] }));
    const messages = toCozeMessages(many, undefined, []);
    expect(messages).toHaveLength(100);
    expect(messages[0].content).toBe("m30");
  });
});

describe("error codes", () => {
  test.each([
    [4100, undefined, "entry"],
    [4101, undefined, "entry"],
    [700012006, undefined, "entry"],
    [4015, undefined, "entry"],
    [4006, undefined, "entry"],
    [4008, undefined, "quota"],
    [4011, undefined, "quota"],
    [4019, undefined, "quota"],
    [4022, undefined, "quota"],
    [4013, undefined, "busy"],
    [4020, undefined, "busy"],
    [4009, undefined, "busy"],
    [undefined, 429, "busy"],
    [undefined, 401, "entry"],
    [5000, undefined, "other"],
    [undefined, 500, "other"],
  ])("code %p, HTTP %p: %s", (code, status, kind) => {
    expect(failureKind(code, status)).toBe(kind as never);
  });
});
