/**
 * Model ids for the bots found in a workspace. The rule: the bot's name
 * lowercased, white space as `-`, letters and digits of any script kept
 * (with the marks that belong to them, without which a Hindi or Thai word
 * is another word) and every other character dropped; `bot-<id>` when
 * nothing is left. Ids that clash are numbered `-2`, `-3`… in the order of
 * the bots' ids, so that a bot keeps its id across refreshes whatever order
 * Coze lists them in.
 */

/** A bot as the naming sees it: its Coze id (a string of digits) and name, and the entry's prefix. */
export interface NamedBot {
  id: string;
  name: string;
  prefix: string;
}

/** The model id a bot's name gives, before clashes are numbered. */
export function modelIdOf(name: string, botId: string): string {
  const slug = name
    .normalize("NFC")
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\s]/gu, "")
    .trim()
    .replace(/\s+/g, "-");
  return slug === "" ? `bot-${botId}` : slug;
}

/**
 * Coze ids are 19-digit strings, beyond a double's precision: compared as
 * whole numbers, by length first and then digit by digit.
 */
export function compareIds(a: string, b: string): number {
  return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
}

/** How `modelIds` files a bot: its entry's prefix and its id. */
export const nameKey = (bot: { id: string; prefix: string }) => `${bot.prefix}\u0000${bot.id}`;

/**
 * The model id of each bot, by its `nameKey`: unique among
 * themselves and against `taken` (the models bot.json names itself). The
 * first bot (by id) of a name gets it plain; the others get the smallest
 * free `-2`, `-3`…, handed out in bot-id order after every plain name is
 * placed, so that a bot named "a-2" keeps its own name.
 */
export function modelIds(bots: readonly NamedBot[], taken: ReadonlySet<string> = new Set()): Map<string, string> {
  const ordered = [...bots].sort((a, b) => compareIds(a.id, b.id) || (a.prefix < b.prefix ? -1 : a.prefix > b.prefix ? 1 : 0));
  const used = new Set(taken);
  const ids = new Map<string, string>();
  const numbered: { key: string; base: string }[] = [];
  for (const bot of ordered) {
    const key = nameKey(bot);
    if (ids.has(key)) continue;
    const base = bot.prefix + modelIdOf(bot.name, bot.id);
    if (used.has(base)) numbered.push({ key, base });
    else {
      used.add(base);
      ids.set(key, base);
    }
  }
  for (const { key, base } of numbered) {
    let n = 2;
    while (used.has(`${base}-${n}`)) n++;
    used.add(`${base}-${n}`);
    ids.set(key, `${base}-${n}`);
  }
  return ids;
}
