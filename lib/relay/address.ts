import { isIP } from "node:net";

/**
 * Whether an IP address is one a request from outside must never make the
 * service reach: loopback, private (RFC 1918), carrier-grade NAT, link-local,
 * unique-local, unspecified, multicast and reserved ranges, and IPv6 forms
 * that embed such an IPv4 address (mapped, NAT64, 6to4).
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
  const embeddedV4 = (hi: number, lo: number) => [hi >> 8, hi & 255, lo >> 8, lo & 255];
  if (groups.slice(0, 7).every((g) => g === 0) && (groups[7] === 0 || groups[7] === 1)) return true; // :: and ::1
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) return privateV4(embeddedV4(groups[6], groups[7])); // ::ffff:a.b.c.d
  if (groups[0] === 0x64 && groups[1] === 0xff9b) return privateV4(embeddedV4(groups[6], groups[7])); // NAT64
  if (groups[0] === 0x2002) return privateV4(embeddedV4(groups[1], groups[2])); // 6to4
  return (
    (groups[0] & 0xfe00) === 0xfc00 || // unique-local fc00::/7
    (groups[0] & 0xffc0) === 0xfe80 || // link-local fe80::/10
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
