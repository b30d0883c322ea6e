/** Gateway and REST payloads of discord.js, turned into the plain data the relay reads. */
import type { APIMessage, GatewayMessageUpdateDispatchData } from "discord.js";
import { DiscordAPIError, HTTPError, RateLimitError } from "./discord-js.ts";
import { PostError } from "./post-error.ts";
import type { ReplyMessage } from "./reply-message.ts";
import { errorText } from "../error-text.ts";

const IMAGE_FILE = /\.(png|jpe?g|gif|webp)$/i;

export function toReplyMessage(data: GatewayMessageUpdateDispatchData | APIMessage, authorId: string | undefined): ReplyMessage {
  let imageUrls: string[] | undefined;
  if (data.embeds !== undefined || data.attachments !== undefined) {
    imageUrls = [];
    for (const embed of data.embeds ?? []) if (embed.image?.url) imageUrls.push(embed.image.url);
    for (const file of data.attachments ?? []) {
      if (file.content_type?.startsWith("image/") || IMAGE_FILE.test(file.filename)) imageUrls.push(file.url);
    }
  }
  let buttonLabels: string[] | undefined;
  if (data.components !== undefined) {
    buttonLabels = [];
    for (const row of data.components) {
      for (const part of (row as { components?: { label?: string }[] }).components ?? []) if (part.label) buttonLabels.push(part.label);
    }
  }
  return {
    id: data.id,
    authorId: authorId ?? "",
    referenceId: data.message_reference?.message_id,
    content: data.content,
    hasComponents: data.components === undefined ? undefined : data.components.length > 0,
    buttonLabels,
    imageUrls,
  };
}

export function toPostError(error: unknown, what: string): PostError {
  if (error instanceof DiscordAPIError) return new PostError(`Discord refused ${what}: ${error.message}`, error.status, Number(error.code) || undefined, undefined, error);
  if (error instanceof HTTPError) return new PostError(`Discord answered ${error.status} to ${what}`, error.status, undefined, undefined, error);
  if (error instanceof RateLimitError) {
    return new PostError(`Discord rate-limits ${what} for ${Math.ceil(error.retryAfter / 1000)} s, longer than the request may wait`, 429, undefined, error.retryAfter, error);
  }
  return new PostError(`Discord could not be reached for ${what}: ${errorText(error)}`, 0, undefined, undefined, error);
}
