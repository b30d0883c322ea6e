import { markdownImages } from "../markdown-images.ts";
import { compareSnowflakes, type ReplyMessage } from "./reply-message.ts";

/**
 * The state of one Coze reply: the Discord messages it spans, in order.
 * A reply longer than 2000 characters continues in further messages that
 * answer the same prompt; its text is their contents joined by a newline,
 * each without the leading mention of our bot that Coze puts first.
 */
export class ReplyText {
  private readonly parts: ReplyMessage[] = [];

  /** Takes a create or an edit of one of the reply's messages; what an edit leaves out stays as it was. */
  apply(message: ReplyMessage): void {
    const at = this.parts.findIndex((p) => p.id === message.id);
    if (message.deleted) {
      // Coze (or a moderator) deleted a message of the reply: it is no longer part of it.
      if (at !== -1) this.parts.splice(at, 1);
      return;
    }
    if (at !== -1) {
      const old = this.parts[at];
      this.parts[at] = {
        ...message,
        authorId: message.authorId || old.authorId,
        referenceId: message.referenceId ?? old.referenceId,
        content: message.content ?? old.content,
        hasComponents: message.hasComponents ?? old.hasComponents,
        buttonLabels: message.buttonLabels ?? old.buttonLabels,
        imageUrls: message.imageUrls ?? old.imageUrls,
      };
      return;
    }
    this.parts.push(message);
    if (this.parts.length > 1) this.parts.sort((a, b) => compareSnowflakes(a.id, b.id));
  }

  get started(): boolean {
    return this.parts.length > 0;
  }

  /** Coze has added its suggestion buttons to the reply. */
  get finished(): boolean {
    return this.parts.some((p) => p.hasComponents === true);
  }

  /** Labels of Coze's suggestion buttons on the reply. */
  buttonLabels(): string[] {
    return this.parts.flatMap((p) => p.buttonLabels ?? []);
  }

  has(id: string): boolean {
    return this.parts.some((p) => p.id === id);
  }

  text(): string {
    // A message with no text (an image that came on its own) adds no line.
    let text = "";
    for (const part of this.parts) {
      const content = stripLeadingMention(part.content ?? "");
      if (content === "") continue;
      if (text !== "") text += "\n";
      text += content;
    }
    return text;
  }

  /** Images in the reply: attachments and embeds first, then markdown image links in the text. */
  images(): string[] {
    const found = new Set<string>();
    for (const part of this.parts) for (const url of part.imageUrls ?? []) found.add(url);
    for (const url of markdownImages(this.text())) found.add(url);
    return [...found];
  }
}

const LEADING_MENTION = /^\s*<@!?\d+>\s*/;

export function stripLeadingMention(content: string): string {
  return content.replace(LEADING_MENTION, "");
}
