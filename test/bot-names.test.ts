/**
 * The naming rule of models found in a workspace, as pure functions: a bot's
 * name → a model id, and clashes numbered in bot-id order.
 */
import { describe, expect, test } from "bun:test";
import { compareIds, modelIdOf, modelIds } from "../lib/coze-api/bot-names.ts";

const ID = "7412345678901234567";

describe("a bot's name as a model id", () => {
  test.each([
    ["Travel Planner", "travel-planner"],
    ["  Travel   Planner  ", "travel-planner"],
    ["GPT-4o Helper!", "gpt4o-helper"],
    ["Tab\tand\nnewline", "tab-and-newline"],
    ["A - B", "a-b"],
    ["翻译助手", "翻译助手"],
    ["Переводчик Бот", "переводчик-бот"],
    ["مساعد ٣", "مساعد-٣"],
    // Marks that belong to their letters stay: without them a Hindi word is another word.
    ["हिंदी सहायक", "हिंदी-सहायक"],
    ["Café", "café"],
    // The same name decomposed (e + combining acute) is the same id.
    ["Cafe\u0301", "café"],
    ["R2-D2 🤖", "r2d2"],
  ])("%p → %p", (name, id) => {
    expect(modelIdOf(name, ID)).toBe(id);
  });

  test("a name with no letter or digit left is bot-<id>", () => {
    expect(modelIdOf("🤖✨!!", ID)).toBe(`bot-${ID}`);
    expect(modelIdOf("", ID)).toBe(`bot-${ID}`);
    expect(modelIdOf("   ", ID)).toBe(`bot-${ID}`);
  });
});

describe("clashes", () => {
  test("ids compare as whole numbers, not as text or doubles", () => {
    // Beyond 2^53 these two are one double; as text "999" sorts after "1000".
    expect(compareIds("7412345678901234567", "7412345678901234568")).toBeLessThan(0);
    expect(Number("7412345678901234567")).toBe(Number("7412345678901234568"));
    expect(compareIds("999", "1000")).toBeLessThan(0);
    expect(compareIds("1000", "1000")).toBe(0);
  });

  test("numbered -2, -3… in bot-id order, whatever order the bots come in", () => {
    const bots = [
      { id: "7400000000000000030", name: "Helper", prefix: "" },
      { id: "7400000000000000010", name: "helper!", prefix: "" },
      { id: "7400000000000000020", name: "HELPER", prefix: "" },
      { id: "999999999999999999", name: "Helper", prefix: "" }, // 18 digits: the smallest id
    ];
    const ids = modelIds(bots);
    expect(ids.get("\u0000999999999999999999")).toBe("helper");
    expect(ids.get("\u00007400000000000000010")).toBe("helper-2");
    expect(ids.get("\u00007400000000000000020")).toBe("helper-3");
    expect(ids.get("\u00007400000000000000030")).toBe("helper-4");
    expect(modelIds([...bots].reverse())).toEqual(ids);
  });

  test("a bot whose own name is a numbered one keeps it; bot.json's models are taken", () => {
    const ids = modelIds(
      [
        { id: "7400000000000000001", name: "a", prefix: "" },
        { id: "7400000000000000002", name: "a", prefix: "" },
        { id: "7400000000000000003", name: "a 2", prefix: "" },
        { id: "7400000000000000004", name: "gpt 4o", prefix: "" },
      ],
      new Set(["gpt-4o"]),
    );
    expect(ids.get("\u00007400000000000000001")).toBe("a");
    expect(ids.get("\u00007400000000000000002")).toBe("a-3");
    expect(ids.get("\u00007400000000000000003")).toBe("a-2");
    expect(ids.get("\u00007400000000000000004")).toBe("gpt-4o-2");
  });

  test("the prefix is part of the id: two entries' prefixes keep the same names apart", () => {
    const ids = modelIds([
      { id: "7400000000000000001", name: "Helper", prefix: "team-a/" },
      { id: "7400000000000000002", name: "Helper", prefix: "team-b/" },
    ]);
    expect([...ids.values()].sort()).toEqual(["team-a/helper", "team-b/helper"]);
  });
});
