import { isIP } from "node:net";

/**
 * Whether an IP address is one a request from outside must never make the
 * service reach: loopback, private (RFC 1918), carrier-grade NAT, link-local,
 * unique-local, unspecified, multicast and reserved ranges, and IPv6 forms
 * that embed such an IPv4 address (compatible, mapped, translated, NAT64,
 * 6to4), judged by the IPv4 address they carry.
 */
export function isPrivateAddress(address: string): boolean {
  const version = isIP(address);
  if (version === 4) return privateV4(address.split(".").map(Number));
  if (version === 6) return privateV6(address);
  return true; // not an address at all: refuse rather than guess
}

function privateV4([a, b]: number[]): boolean {
  return (
    a === 0 || // "this network"
    a === 10 ||
    a === 127 ||
    (a === 100 && b >= 64 && b <= 127) || // carrier-grade NAT
    (a === 169 && b === 254) || // link-local, cloud metadata
    (a === 172 && b >= 16 && b <= 31) ||
    (a === 192 && b === 168) ||
    (a === 192 && b === 0) || // IETF protocol assignments
    (a === 198 && (b === 18 || b === 19)) || // benchmarking
    a >= 224 // multicast, reserved, broadcast
  );
}

function privateV6(address: string): boolean {
  const groups = expandV6(address.toLowerCase());
  if (!groups) return true;
  const zero = (from: number, to: number) => groups.slice(from, to).every((g) => g === 0);
  const lastV4 = () => privateV4([groups[6] >> 8, groups[6] & 255, groups[7] >> 8, groups[7] & 255]);
  // Forms that carry an IPv4 address in their last 32 bits are judged by it: IPv4-compatible ::a.b.c.d
  // (which covers :: and ::1), IPv4-mapped ::ffff:a.b.c.d, IPv4-translated ::ffff:0:a.b.c.d, and NAT64.
  if (zero(0, 6)) return lastV4();
  if (zero(0, 5) && groups[5] === 0xffff) return lastV4();
  if (zero(0, 4) && groups[4] === 0xffff && groups[5] === 0) return lastV4();
  if (groups[0] === 0x64 && groups[1] === 0xff9b && zero(2, 6)) return lastV4();
  if (groups[0] === 0x64 && groups[1] === 0xff9b) return true; // local-use NAT64 64:ff9b:1::/48: a private translator
  if (groups[0] === 0x2002) return privateV4([groups[1] >> 8, groups[1] & 255, groups[2] >> 8, groups[2] & 255]); // 6to4
  return (
    (groups[0] & 0xfe00) === 0xfc00 || // unique-local fc00::/7
    (groups[0] & 0xffc0) === 0xfe80 || // link-local fe80::/10
    (groups[0] & 0xffc0) === 0xfec0 || // site-local fec0::/10 (deprecated, still routed inside some networks)
    (groups[0] & 0xff00) === 0xff00 // multicast
  );
}

/** The eight 16-bit groups of an IPv6 address (with an embedded dotted IPv4 tail), or undefined. */
function expandV6(address: string): number[] | undefined {
  let text = address.replace(/^\[|\]$/g, "").split("%")[0];
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const [a, b, c, d] = v4[1].split(".").map(Number);
    text = text.slice(0, -v4[1].length) + `${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.split("::");
  const left = head ? head.split(":") : [];
  const right = tail !== undefined && tail !== "" ? tail.split(":") : [];
  const missing = 8 - left.length - right.length;
  if (tail === undefined ? left.length !== 8 : missing < 1) return undefined;
  const groups = [...left, ...Array(tail === undefined ? 0 : missing).fill("0"), ...right].map((g) => parseInt(g, 16));
  return groups.length === 8 && groups.every((g) => g >= 0 && g <= 0xffff) ? groups : undefined;
}
