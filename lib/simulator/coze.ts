import type { APIEmbed, APIMessage } from "discord-api-types/v10";
import type { CozeScript } from "./coze-script.ts";
import { promptPng } from "./png.ts";
import { CONTENT_LIMIT, type DiscordSimulator, type PostRecord, type StoredFile } from "./simulator.ts";
import type { SimChannel, SimCoze } from "./world.ts";

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

/**
 * How Coze answers a mention (SPEC §4.4): a message that references the
 * prompt and starts with `<@sender>`, edited as the text grows; a text longer
 * than one message continues in further messages referencing the same
 * prompt; buttons on the last message when it is done.
 */
export async function runCoze(sim: DiscordSimulator, coze: SimCoze, channel: SimChannel, prompt: APIMessage): Promise<void> {
  if (coze.ignoreBots && prompt.author.bot) return;
  const promptText = prompt.content.replace(/<@!?\d+>/g, "").trim();
  const script: CozeScript = coze.queue.shift() ?? coze.behaviour(promptText);
  if (script.silent) return;
  const record = sim.postRecord(prompt.id);
  if (record) record.reply = { messageIds: [], text: "", done: false };
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
  if (script.edits) {
    for (const content of script.edits) {
      if (!last) last = create(`${mention} ${content}`);
      else sim.editMessage(last.id, { content: `${mention} ${content}` });
      step();
      await Bun.sleep(interval);
    }
    text = script.edits.at(-1) ?? "";
  } else {
    const pieces = splitReply(`${mention} ${text}`);
    for (const [i, piece] of pieces.entries()) {
      const growth = grow(piece, script.steps ?? 3, i === 0 ? mention.length + 1 : 0);
      last = create(growth[0]);
      step();
      for (const content of growth.slice(1)) {
        await Bun.sleep(interval);
        sim.editMessage(last.id, { content });
        step();
      }
      await Bun.sleep(interval);
    }
  }

  const final: { components?: unknown[]; embeds?: APIEmbed[]; files?: StoredFile[] } = {};
  if (image && script.image === "embed") final.embeds = [{ type: "image" as APIEmbed["type"], image: { url: image.url, width: 64, height: 64 } } as APIEmbed];
  if (image && script.image === "attachment") final.files = [image.file];
  if (script.buttons !== false) final.components = SUGGESTIONS;
  if (last && Object.keys(final).length > 0) sim.editMessage(last.id, final);
  finishRecord(record, text);
}

function finishRecord(record: PostRecord | undefined, text: string): void {
  if (!record?.reply) return;
  record.reply.text = text;
  record.reply.done = true;
}

/** Splits a reply into Discord messages at line breaks where it can (the relay joins them with "\n"). */
export function splitReply(text: string): string[] {
  const pieces: string[] = [];
  let rest = text;
  while ([...rest].length > CONTENT_LIMIT) {
    const head = [...rest].slice(0, CONTENT_LIMIT).join("");
    const cut = head.lastIndexOf("\n");
    if (cut > 0) {
      pieces.push(rest.slice(0, cut));
      rest = rest.slice(cut + 1);
    } else {
      pieces.push(head);
      rest = rest.slice(head.length);
    }
  }
  pieces.push(rest);
  return pieces;
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
