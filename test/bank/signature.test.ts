/**
 * Bank-Signature (API §6): `t=<unix seconds>,v1=<hex>[,v1=<hex>…]`, each v1 an HMAC-SHA256
 * over `<t>.<raw body>`. The expected MACs are computed here with WebCrypto directly, not
 * with the module's own helpers, so that a wrong algorithm or message layout fails.
 */
import { describe, expect, it } from "vitest";
import { parseSignatureHeader, signatureHeader, verifySignature } from "../../src/bank/signature";

const SECRET = "whsec_unit_test_secret_0123456789";
const OTHER_SECRET = "whsec_another_secret_9876543210";
const BODY = JSON.stringify({ id: "evt_1", type: "transfer.received", created_at: "2026-11-21T12:00:00Z", data: { amount: 100 } });
const T = 1_795_000_000; // a fixed instant (seconds)
const NOW_MS = T * 1000;

async function hmacHex(secret: string, message: string): Promise<string> {
  const encoder = new TextEncoder();
  const key = await crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, encoder.encode(message)));
  return [...mac].map((byte) => byte.toString(16).padStart(2, "0")).join("");
}

const sign = (body: string, secret: string, t = T) => hmacHex(secret, `${t}.${body}`);
const hex64 = (char: string) => char.repeat(64);

describe("signatureHeader", () => {
  it("writes t in whole seconds and v1 as the HMAC-SHA256 of `<t>.<body>`", async () => {
    const header = await signatureHeader(BODY, SECRET, NOW_MS + 999);
    expect(header).toBe(`t=${T},v1=${await sign(BODY, SECRET)}`);
  });

  it("round-trips through verifySignature", async () => {
    expect(await verifySignature(BODY, await signatureHeader(BODY, SECRET, NOW_MS), SECRET, NOW_MS)).toBe(true);
  });
});

describe("verifySignature", () => {
  it("accepts a valid signature", async () => {
    expect(await verifySignature(BODY, `t=${T},v1=${await sign(BODY, SECRET)}`, SECRET, NOW_MS)).toBe(true);
  });

  it("accepts upper-case hex", async () => {
    expect(await verifySignature(BODY, `t=${T},v1=${(await sign(BODY, SECRET)).toUpperCase()}`, SECRET, NOW_MS)).toBe(true);
  });

  it("refuses a signature made with another secret", async () => {
    expect(await verifySignature(BODY, `t=${T},v1=${await sign(BODY, OTHER_SECRET)}`, SECRET, NOW_MS)).toBe(false);
  });

  it("refuses a tampered body (one character changed, or whitespace added)", async () => {
    const header = `t=${T},v1=${await sign(BODY, SECRET)}`;
    expect(await verifySignature(BODY.replace('"amount":100', '"amount":900'), header, SECRET, NOW_MS)).toBe(false);
    expect(await verifySignature(`${BODY} `, header, SECRET, NOW_MS)).toBe(false);
    expect(await verifySignature("", header, SECRET, NOW_MS)).toBe(false);
  });

  it("refuses a signature whose t was changed (t is inside the MAC)", async () => {
    const mac = await sign(BODY, SECRET, T);
    expect(await verifySignature(BODY, `t=${T + 1},v1=${mac}`, SECRET, NOW_MS)).toBe(false);
  });

  it("refuses a MAC over the body alone (without `<t>.`)", async () => {
    expect(await verifySignature(BODY, `t=${T},v1=${await hmacHex(SECRET, BODY)}`, SECRET, NOW_MS)).toBe(false);
  });

  describe("timestamp tolerance (300 s either way)", () => {
    it.each([
      ["exactly 300 s old", true, NOW_MS + 300_000],
      ["300.001 s old", false, NOW_MS + 300_001],
      ["301 s old", false, NOW_MS + 301_000],
      ["a day old", false, NOW_MS + 86_400_000],
      ["exactly 300 s in the future", true, NOW_MS - 300_000],
      ["300.001 s in the future", false, NOW_MS - 300_001],
      ["301 s in the future", false, NOW_MS - 301_000],
      ["a day in the future", false, NOW_MS - 86_400_000],
    ])("t %s → accepted: %s", async (_label, expected, now) => {
      expect(await verifySignature(BODY, `t=${T},v1=${await sign(BODY, SECRET)}`, SECRET, now)).toBe(expected);
    });

    it("defaults `now` to the clock", async () => {
      const fresh = Math.floor(Date.now() / 1000);
      expect(await verifySignature(BODY, `t=${fresh},v1=${await sign(BODY, SECRET, fresh)}`, SECRET)).toBe(true);
      const stale = fresh - 400;
      expect(await verifySignature(BODY, `t=${stale},v1=${await sign(BODY, SECRET, stale)}`, SECRET)).toBe(false);
    });
  });

  describe("several v1 values (secret rotation)", () => {
    it("accepts when either the old or the new secret matches, in any order", async () => {
      const oldMac = await sign(BODY, OTHER_SECRET);
      const newMac = await sign(BODY, SECRET);
      expect(await verifySignature(BODY, `t=${T},v1=${oldMac},v1=${newMac}`, SECRET, NOW_MS)).toBe(true);
      expect(await verifySignature(BODY, `t=${T},v1=${newMac},v1=${oldMac}`, SECRET, NOW_MS)).toBe(true);
      expect(await verifySignature(BODY, `t=${T},v1=${oldMac},v1=${newMac}`, OTHER_SECRET, NOW_MS)).toBe(true);
    });

    it("refuses when none of them matches", async () => {
      const header = `t=${T},v1=${await sign(BODY, OTHER_SECRET)},v1=${hex64("a")},v1=${hex64("b")}`;
      expect(await verifySignature(BODY, header, SECRET, NOW_MS)).toBe(false);
    });

    it("accepts up to 8 values and refuses 9 even if one matches", async () => {
      const good = await sign(BODY, SECRET);
      const eight = [...Array.from({ length: 7 }, (_, i) => hex64(String(i))), good].map((mac) => `v1=${mac}`).join(",");
      expect(await verifySignature(BODY, `t=${T},${eight}`, SECRET, NOW_MS)).toBe(true);
      const nine = [...Array.from({ length: 8 }, (_, i) => hex64(String(i))), good].map((mac) => `v1=${mac}`).join(",");
      expect(await verifySignature(BODY, `t=${T},${nine}`, SECRET, NOW_MS)).toBe(false);
    });
  });

  it("ignores unknown schemes: a valid v0/v2 alone is not enough, next to a valid v1 it is harmless", async () => {
    const mac = await sign(BODY, SECRET);
    expect(await verifySignature(BODY, `t=${T},v0=${mac}`, SECRET, NOW_MS)).toBe(false);
    expect(await verifySignature(BODY, `t=${T},v2=${mac}`, SECRET, NOW_MS)).toBe(false);
    expect(await verifySignature(BODY, `t=${T},v0=whatever,v1=${mac},v2=${mac}`, SECRET, NOW_MS)).toBe(true);
  });

  it("refuses a missing or empty header", async () => {
    expect(await verifySignature(BODY, undefined, SECRET, NOW_MS)).toBe(false);
    expect(await verifySignature(BODY, null, SECRET, NOW_MS)).toBe(false);
    expect(await verifySignature(BODY, "", SECRET, NOW_MS)).toBe(false);
  });
});

describe("parseSignatureHeader", () => {
  it("parses t and every v1, lower-casing the hex and tolerating spaces after commas", () => {
    expect(parseSignatureHeader(`t=${T}, v1=${hex64("A")} ,v1=${hex64("b")}`)).toEqual({ timestamp: T, signatures: [hex64("a"), hex64("b")] });
  });

  it("skips unknown schemes", () => {
    expect(parseSignatureHeader(`t=${T},v0=abc,v2=${hex64("c")},v1=${hex64("d")}`)).toEqual({ timestamp: T, signatures: [hex64("d")] });
  });

  it.each([
    ["empty", ""],
    ["missing t", `v1=${hex64("a")}`],
    ["missing v1", `t=${T}`],
    ["only unknown schemes", `t=${T},v0=${hex64("a")}`],
    ["t not a number", `t=abc,v1=${hex64("a")}`],
    ["t negative", `t=-5,v1=${hex64("a")}`],
    ["t fractional", `t=${T}.5,v1=${hex64("a")}`],
    ["t with 13 digits", `t=1234567890123,v1=${hex64("a")}`],
    ["t empty", `t=,v1=${hex64("a")}`],
    ["v1 not hex", `t=${T},v1=${hex64("g")}`],
    ["v1 too short", `t=${T},v1=${"a".repeat(63)}`],
    ["v1 too long", `t=${T},v1=${"a".repeat(65)}`],
    ["v1 empty", `t=${T},v1=`],
    ["v1 base64", `t=${T},v1=${btoa("x".repeat(32))}`],
    ["one valid and one malformed v1", `t=${T},v1=${hex64("a")},v1=xyz`],
    ["a part without =", `t=${T},v1=${hex64("a")},garbage`],
    ["a part with two =", `t=${T},v1=${hex64("a")}=`],
    ["a trailing comma", `t=${T},v1=${hex64("a")},`],
    ["a semicolon separator", `t=${T};v1=${hex64("a")}`],
    ["9 v1 values", `t=${T},${Array.from({ length: 9 }, () => `v1=${hex64("a")}`).join(",")}`],
    ["over 2048 characters", `t=${T},v1=${hex64("a")},v0=${"x".repeat(2048)}`],
  ])("refuses %s", (_label, header) => {
    expect(parseSignatureHeader(header)).toBeNull();
  });

  it("refuses null and undefined", () => {
    expect(parseSignatureHeader(null)).toBeNull();
    expect(parseSignatureHeader(undefined)).toBeNull();
  });

  it("refuses a huge header, even one that carries a valid signature", async () => {
    const valid = `t=${T},v1=${await sign(BODY, SECRET)}`;
    const huge = `${valid},${Array.from({ length: 10_000 }, () => "v0=x").join(",")}`;
    expect(parseSignatureHeader(huge)).toBeNull();
    expect(await verifySignature(BODY, huge, SECRET, NOW_MS)).toBe(false);
  });
});

describe("verifySignature over raw bytes", () => {
  it("checks exactly the bytes sent, a byte-order mark included", async () => {
    const body = new Uint8Array([0xef, 0xbb, 0xbf, ...new TextEncoder().encode('{"id":"evt_bom"}')]);
    const t = Math.floor(Date.now() / 1000);
    const { hmacSha256Hex, prefixed } = await import("../../src/crypto");
    const header = `t=${t},v1=${await hmacSha256Hex("whsec_bytes_secret", prefixed(`${t}.`, body))}`;
    expect(await verifySignature(body, header, "whsec_bytes_secret")).toBe(true);
    // Decoding first would drop the mark and change what was signed.
    expect(await verifySignature(new TextDecoder().decode(body), header, "whsec_bytes_secret")).toBe(false);
  });
});
