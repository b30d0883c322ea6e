/**
 * One Discord message of a Coze reply, reduced to what the relay reads. The
 * pool turns gateway payloads into these; everything after it is plain data.
 * Discord sends whole messages on edits today; a field an update leaves out
 * is undefined here and means "unchanged", never "empty".
 */
export interface ReplyMessage {
  id: string;
  /** "" when the payload did not say. */
  authorId: string;
  /** `message_reference.message_id`: the posted prompt this message answers. */
  referenceId: string | undefined;
  content: string | undefined;
  /** Coze adds its suggestion buttons when it has finished writing. */
  hasComponents: boolean | undefined;
  /** Labels of those buttons ("Continue" among them when Coze offers to go on). */
  buttonLabels?: string[];
  /** Image URLs from embeds (`image.url`) and image attachments. */
  imageUrls: string[] | undefined;
  /** The message was deleted (MESSAGE_DELETE): it is no longer part of the reply. */
  deleted?: boolean;
}

/** Orders snowflakes (decimal strings) by value without BigInt. */
export function compareSnowflakes(a: string, b: string): number {
  return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
}
