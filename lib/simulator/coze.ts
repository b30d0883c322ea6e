import type { APIEmbed, APIMessage } from "discord-api-types/v10";
import type { CozeScript } from "./coze-script.ts";
import { promptPng } from "./png.ts";
import { CONTENT_LIMIT } from "./limits.ts";
import type { SimulatedDiscord } from "./simulated-discord.ts";
import type { ContextLine, PostRecord, SimChannel, SimCoze, StoredFile } from "./world.ts";
import { compareSnowflakes } from "./snowflake.ts";

/** Coze's suggestion buttons: an action row of secondary buttons. */
const SUGGESTIONS = [
  {
    type: 1,
    components: [
      { type: 2, style: 2, label: "Tell me more", custom_id: "suggestion:0" },
      { type: 2, style: 2, label: "Give an example", custom_id: "suggestion:1" },
      { type: 2, style: 2, label: "Summarise", custom_id: "suggestion:2" },
    ],
  },
];

/** The button some Coze bots put under an answer they cut short. */
const CONTINUE = [{ type: 1, components: [{ type: 2, style: 2, label: "Continue", custom_id: "suggestion:continue" }] }];

/** How Coze asks to be asked for more: its long answers end with this. */
export const ELLIPSIS = "…";

/**
 * How Coze answers a mention: it reads
 * the recent history of the channel or thread it is mentioned in as the
 * conversation's context, whoever wrote it; it answers with a message that
 * references the prompt and starts with `<@sender>`, edited as the text
 * grows; one message holds at most 2000 characters, so a longer answer ends
 * with an ellipsis and goes on only when asked to "continue"; buttons come
 * last when it has suggestions on (a cut-off answer has none).
 */
export async function runCoze(sim: SimulatedDiscord, coze: SimCoze, channel: SimChannel, prompt: APIMessage): Promise<void> {
  if (coze.offline || (coze.ignoreBots && prompt.author.bot)) return;
  const promptText = prompt.content.replace(/<@!?\d+>/g, "").trim();
  const context = readContext(sim, coze, channel, prompt);
  const unfinished = coze.unfinished.get(channel.id);
  let script: CozeScript;
  if (unfinished !== undefined && /^continue\b/i.test(promptText)) {
    coze.unfinished.delete(channel.id);
    script = { text: unfinished };
  } else script = coze.queue.shift() ?? coze.behaviour(promptText, context);
  if (script.silent) return;
  const record = sim.postRecord(prompt.id);
  if (record) record.reply = { messageIds: [], text: "", done: false, context };
  const mention = `<@${prompt.author.id}>`;
  const interval = script.editIntervalMs ?? 20;
  await Bun.sleep(script.firstDelayMs ?? 20);

  const create = (content: string, extra: { files?: StoredFile[]; embeds?: APIEmbed[] } = {}) => {
    const message = sim.createMessage(channel, coze.user, { content, referenceId: prompt.id, ...extra });
    record?.reply?.messageIds.push(message.id);
    return message;
  };

  if (script.error !== undefined) {
    create(`${mention} ${script.error}`);
    finishRecord(record, script.error);
    return;
  }

  let image: { url: string; file: StoredFile } | undefined;
  if (script.image) {
    const file = sim.storeFile({ filename: "image.png", contentType: "image/png", data: promptPng(promptText) });
    image = { url: sim.fileUrl(channel.id, file), file };
  }
  let text = script.text ?? `You said: ${promptText}`;
  if (image && script.image === "markdown") text += `\n![image](${image.url})`;

  let edit = 0;
  const step = () => script.onEdit?.(edit++);
  let last: APIMessage | undefined;
  let cut = false;
  if (script.edits) {
    for (const content of script.edits) {
      if (!last) last = create(`${mention} ${content}`);
      else sim.editMessage(last.id, { content: `${mention} ${content}` });
      step();
      await Bun.sleep(interval);
    }
    text = script.edits.at(-1) ?? "";
  } else {
    const [piece, rest] = cutAnswer(`${mention} ${text}`);
    if (rest !== undefined) {
      coze.unfinished.set(channel.id, rest);
      cut = true;
      text = piece.slice(mention.length + 1);
    }
    const growth = grow(piece, script.steps ?? 3, mention.length + 1);
    last = create(growth[0]);
    step();
    for (const content of growth.slice(1)) {
      await Bun.sleep(interval);
      sim.editMessage(last.id, { content });
      step();
    }
    await Bun.sleep(interval);
  }

  const final: { components?: unknown[]; embeds?: APIEmbed[]; files?: StoredFile[] } = {};
  if (image && script.image === "embed") final.embeds = [{ type: "image" as APIEmbed["type"], image: { url: image.url, width: 64, height: 64 } } as APIEmbed];
  if (image && script.image === "attachment") final.files = [image.file];
  if (image && script.image === "separate") create("", { files: [image.file] });
  if (cut && coze.continueButtons) final.components = CONTINUE;
  else if (script.buttons !== false && !cut) final.components = SUGGESTIONS;
  if (last && Object.keys(final).length > 0) sim.editMessage(last.id, final);
  finishRecord(record, text);
}

/**
 * The messages of the channel before `prompt` that Coze reads as context:
 * the last `dialogRounds` rounds (a round is a question and its answer),
 * every author's messages, mentions removed.
 */
function readContext(sim: SimulatedDiscord, coze: SimCoze, channel: SimChannel, prompt: APIMessage): ContextLine[] {
  if (coze.dialogRounds <= 0) return [];
  const earlier = (sim.channelMessages.get(channel.id) ?? [])
    .map((id) => sim.messages.get(id)?.message)
    .filter((m): m is APIMessage => m !== undefined && compareSnowflakes(m.id, prompt.id) < 0 && m.content !== "");
  return earlier.slice(-2 * coze.dialogRounds).map((m) => ({ authorId: m.author.id, content: m.content.replace(/<@!?\d+>/g, "").trim() }));
}

/** Splits an answer at Coze's 2000-character limit: the first message (ending in an ellipsis) and what is left, if anything. */
export function cutAnswer(content: string): [string, string | undefined] {
  const points = [...content];
  if (points.length <= CONTENT_LIMIT) return [content, undefined];
  // Cut after a space or line break near the limit: the pieces, ellipsis removed, join back into the answer.
  let head = points.slice(0, CONTENT_LIMIT - 1).join("");
  const space = Math.max(head.lastIndexOf(" "), head.lastIndexOf("\n"));
  if (space > head.length - 100) head = head.slice(0, space + 1);
  return [head + ELLIPSIS, content.slice(head.length)];
}

function finishRecord(record: PostRecord | undefined, text: string): void {
  if (!record?.reply) return;
  record.reply.text = text;
  record.reply.done = true;
}

/**
 * The successive contents of one message as Coze writes it: `steps` growing
 * prefixes cut between code points, the first `keep` units (the mention) always whole.
 */
export function grow(piece: string, steps: number, keep = 0): string[] {
  const head = piece.slice(0, keep);
  const chars = [...piece.slice(keep)];
  const out: string[] = [];
  for (let k = 1; k <= steps; k++) {
    const content = head + chars.slice(0, Math.ceil((chars.length * k) / steps)).join("");
    if (content !== out.at(-1)) out.push(content);
  }
  return out;
}
