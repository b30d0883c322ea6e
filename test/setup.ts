/**
 * Loaded before every test file (bunfig.toml). Long enough for the tests
 * that wait out Discord's rate limits or a gateway recovery (op 9 takes
 * discord.js about 5 s); a hung test still fails well within CI's limits.
 */
import { setDefaultTimeout } from "bun:test";

setDefaultTimeout(30_000);
