/**
 * Images written as markdown in an answer: `![alt](url)`, and links
 * `[text](url)` whose URL names an image file. Every place that looks for,
 * adds or removes such images reads them through this one matcher.
 */
const MARKDOWN_IMAGE = /!\[[^\]]*\]\((https?:\/\/[^\s)]+)\)/g;
const IMAGE_LINK = /\[[^\]]*\]\((https?:\/\/[^\s)]+\.(?:png|jpe?g|gif|webp)(?:\?[^\s)]*)?)\)/gi;
/** Any markdown link or image, whatever its URL. */
const ANY_LINK = /!?\[[^\]]*\]\([^)]*\)/g;
/** The start of a link that may still be being written: `[…`, `[…]`, `[…](`, or a whole `[…](`. */
const LINK_START = /!?\[[^\]\n]*(?:\]\(?)?$|!?\[[^\]\n]*\]\(/;

/** URLs of markdown images and of markdown links that point at an image file, in order, once each. */
export function markdownImages(text: string): string[] {
  if (!text.includes("](")) return [];
  const urls: string[] = [];
  for (const match of text.matchAll(MARKDOWN_IMAGE)) urls.push(match[1]);
  for (const match of text.matchAll(IMAGE_LINK)) if (!urls.includes(match[1])) urls.push(match[1]);
  return urls;
}

/** Chat content with the images that are not already in its text, as markdown images. */
export function withImages(text: string, images: string[]): string {
  const missing = images.filter((url) => !text.includes(url));
  if (missing.length === 0) return text;
  const block = missing.map((url) => `![image](${url})`).join("\n");
  return text === "" ? block : `${text}\n\n${block}`;
}

/** The text without its markdown links and images. */
export function withoutLinks(text: string): string {
  return text.replace(ANY_LINK, "");
}

/**
 * How much of a growing answer a stream may send while its image links may
 * still be rewritten: everything before the first markdown link; the rest
 * goes out once the answer is complete and its images kept.
 */
export function beforeLinks(text: string): string {
  const link = text.search(LINK_START);
  return link === -1 ? text : text.slice(0, link);
}
