const DISCORD_EPOCH = 1420070400000n;
let lastMs = 0n;
let increment = 0n;

/** A Discord id: milliseconds since 2015 in the top bits, a counter in the low 12, so ids sort by creation. */
export function snowflake(): string {
  const ms = BigInt(Date.now()) - DISCORD_EPOCH;
  if (ms > lastMs) {
    lastMs = ms;
    increment = 0n;
  } else if (++increment > 0xfffn) {
    // More than 4096 ids in one millisecond: borrow the next one, so ids never repeat or go back.
    lastMs++;
    increment = 0n;
  }
  return ((lastMs << 22n) | (1n << 17n) | increment).toString();
}

/** Orders snowflakes (decimal strings) by value without BigInt. */
export function compareSnowflakes(a: string, b: string): number {
  return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
}
