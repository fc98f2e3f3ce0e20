/**
 * Where we may send a merchant's webhooks (API §14): never somewhere that turns our Worker
 * into a probe of private networks (server-side request forgery). Checked when the URL is set
 * and again before every attempt (a URL stored before a rule changed is refused then too).
 *
 * https only; plain http only to localhost, and only in the sandbox (a developer's receiver):
 * that is the sandbox's one exception, so https to a local name or address is refused there too.
 * No IP literal in a private, loopback, link-local, unique-local, shared (CGNAT), multicast or
 * reserved range; no name that means "this machine" or a local network (`localhost`,
 * `*.localhost`, `*.local`, `*.internal`, a single label) outside the sandbox; no credentials
 * in the URL. Redirects are never followed (the sender fetches with `redirect: "manual"`).
 *
 * A name is not resolved here: Workers cannot resolve DNS, and their outbound fetch cannot
 * reach Cloudflare's private networks. What a public name resolves to is the receiver's side.
 */
import { limits } from "../limits";

/** Why this URL may not receive webhooks, or null if it may. */
export function webhookUrlProblem(text: string, sandbox: boolean): string | null {
  if (text.length > limits.webhook_url_length_max) return `must be at most ${limits.webhook_url_length_max} characters`;
  // The URL parser silently drops spaces, tabs and newlines: what we store would not be what we call.
  if (/[\x00-\x20\x7f]/.test(text)) return "must not contain spaces or control characters";
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return "must be an absolute URL";
  }
  if (url.username !== "" || url.password !== "") return "must not carry credentials";
  // The WHATWG parser has already turned 0x7f.1, 2130706433 and the like into dotted IPv4.
  // A trailing dot names the same host (`intranet.` is `intranet`, `foo.localhost.` a localhost).
  const host = url.hostname.toLowerCase().replace(/\.+$/, "");
  const local = isLocalhostName(host) || host === "127.0.0.1" || host === "[::1]";
  if (url.protocol === "http:") {
    if (!sandbox) return "must use https";
    if (!local) return "must use https (plain http only to localhost, in the sandbox)";
    return null;
  }
  if (url.protocol !== "https:") return "must use https";
  if (host.startsWith("[")) return ipv6Problem(host.slice(1, -1));
  if (/^\d+\.\d+\.\d+\.\d+$/.test(host)) return ipv4Problem(host);
  if (isLocalhostName(host) || !host.includes(".") || /\.(local|internal|localdomain|home\.arpa)\.?$/.test(host)) {
    return "must be a public host name, not a local one";
  }
  return null;
}

function isLocalhostName(host: string): boolean {
  return host === "localhost" || host.endsWith(".localhost");
}

function ipv4Problem(host: string): string | null {
  const [a, b] = host.split(".").map(Number) as [number, number, number, number];
  const refused =
    a === 0 || // "this network"
    a === 10 || // private
    a === 127 || // loopback
    (a === 100 && b >= 64 && b <= 127) || // shared address space (CGNAT)
    (a === 169 && b === 254) || // link-local (cloud metadata services live here)
    (a === 172 && b >= 16 && b <= 31) || // private
    (a === 192 && b === 168) || // private
    (a === 192 && b === 0) || // IETF protocol assignments, documentation
    (a === 198 && (b === 18 || b === 19)) || // benchmarking
    a >= 224; // multicast, reserved, broadcast
  return refused ? "must not be a private, loopback, link-local or reserved address" : null;
}

function ipv6Problem(address: string): string | null {
  const text = address.toLowerCase();
  // IPv4-mapped (::ffff:a.b.c.d, which the parser writes as ::ffff:xxxx:xxxx).
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(text);
  if (mapped) {
    const high = parseInt(mapped[1]!, 16);
    const low = parseInt(mapped[2]!, 16);
    return ipv4Problem(`${high >> 8}.${high & 255}.${low >> 8}.${low & 255}`);
  }
  const first = parseInt(text.split(":")[0] || "0", 16);
  const refused =
    text === "::" || // unspecified
    text === "::1" || // loopback
    text.startsWith("::") || // IPv4-compatible and other reserved forms
    (first & 0xfe00) === 0xfc00 || // unique local fc00::/7
    (first & 0xffc0) === 0xfe80 || // link-local fe80::/10
    (first & 0xffc0) === 0xfec0 || // site-local fec0::/10 (deprecated, still private)
    /^100:0:0:0:/.test(text) || text.startsWith("100::") || // discard-only 100::/64
    (first & 0xff00) === 0xff00 || // multicast
    text.startsWith("64:ff9b:") || // NAT64 (reaches IPv4 space)
    text.startsWith("2002:") || // 6to4 (embeds an IPv4 address, private ones included)
    text.startsWith("2001:db8:"); // documentation
  return refused ? "must not be a private, loopback, link-local or reserved address" : null;
}
