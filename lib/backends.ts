import { cozeApiKind } from "./coze-api/backend.ts";
import { discordKind } from "./discord/backend.ts";
import type { BackendKind } from "./pool/seam.ts";

/**
 * The registry of kinds: every way into Coze an entry of `bot.json` may
 * name. A new way in is a folder that implements the seam (pool/seam.ts)
 * and one line here.
 */
export const BACKENDS: readonly BackendKind[] = [discordKind, cozeApiKind];
