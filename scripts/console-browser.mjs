// What the console's browser test and its screenshots share: finding Debian's Chromium,
// launching it with puppeteer-core, logging in, and seeding a dev server through its public API
// (signed bank events included) so that every view has something to show.
import { createHmac, randomInt, randomUUID } from "node:crypto";
import { existsSync } from "node:fs";
import puppeteer from "puppeteer-core";

/** The browser to drive: $CHROMIUM_PATH when set (only it), else the first of the usual paths; null if none. */
export function findChromium() {
  if (process.env.CHROMIUM_PATH) return existsSync(process.env.CHROMIUM_PATH) ? process.env.CHROMIUM_PATH : null;
  const candidates = ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome", "/usr/bin/google-chrome-stable"];
  return candidates.find((candidate) => candidate && existsSync(candidate)) ?? null;
}

export async function launchBrowser(executablePath, { timeoutMs = 60_000 } = {}) {
  return puppeteer.launch({
    executablePath,
    headless: true,
    timeout: timeoutMs,
    // --no-sandbox: CI containers run as root, where Chromium's sandbox cannot start. The rest keep
    // it off the network (these machines refuse outside connections, many at a time).
    args: ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--no-first-run", "--no-default-browser-check", "--disable-quic", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    defaultViewport: { width: 1400, height: 900 },
  });
}

/** Calls the API as curl would; throws on an unexpected status. */
export async function callApi(server, path, { method = "GET", body, key = server.operatorKey, expect = [200, 201, 202] } = {}) {
  const headers = { authorization: `Bearer ${key}` };
  if (body !== undefined) headers["content-type"] = "application/json";
  const response = await fetch(`${server.url}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await response.text();
  if (!expect.includes(response.status)) throw new Error(`${method} ${path} answered ${response.status}: ${text}`);
  return text ? JSON.parse(text) : null;
}

/** A bank event signed as the bank signs it (README step 9): HMAC-SHA256 of `<t>.<body>`. */
export async function sendBankEvent(server, event) {
  const body = JSON.stringify(event);
  const t = Math.floor(Date.now() / 1000);
  const signature = createHmac("sha256", server.bankSecret).update(`${t}.${body}`).digest("hex");
  return fetch(`${server.url}/v1/bank/events`, { method: "POST", headers: { "content-type": "application/json", "bank-signature": `t=${t},v1=${signature}` }, body });
}

function digits(count) {
  let text = "";
  for (let i = 0; i < count; i++) text += String(randomInt(10));
  return text;
}

/** A valid CUIT (AFIP's mod-11 check digit). */
export function randomCuit() {
  for (;;) {
    const first10 = "20" + digits(8);
    const weights = [5, 4, 3, 2, 7, 6, 5, 4, 3, 2];
    const sum = weights.reduce((total, weight, i) => total + weight * Number(first10[i]), 0);
    const check = (11 - (sum % 11)) % 11;
    if (check !== 10) return first10 + String(check);
  }
}

/** A valid CBU (BCRA's two check digits). */
export function randomCbu() {
  const check = (text, weights) => String((10 - (weights.reduce((total, weight, i) => total + weight * Number(text[i]), 0) % 10)) % 10);
  const branch = digits(7);
  const account = digits(13);
  return branch + check(branch, [7, 1, 3, 9, 7, 1, 3]) + account + check(account, [3, 9, 7, 1, 3, 9, 7, 1, 3, 9, 7, 1, 3]);
}

export function transferEvent({ amount, concepto, sender = { cuit: randomCuit(), name: "Remitente Desconocido", cbu: randomCbu() } }) {
  const now = new Date().toISOString();
  return {
    id: `evt_${randomUUID().replaceAll("-", "")}`,
    type: "transfer.received",
    created_at: now,
    data: { bank_transaction_id: `bt_${randomUUID().replaceAll("-", "")}`, amount, currency: "ARS", sender, destination: { account_number: null }, concepto, booked_at: now },
  };
}

/** A cash-in whose concepto names no reference and whose sender nobody knows: quarantined. */
export async function quarantinePayment(server, amount, concepto = "transferencia varios") {
  const event = transferEvent({ amount, concepto });
  const response = await sendBankEvent(server, event);
  if (response.status !== 200) throw new Error(`The bank event answered ${response.status}: ${await response.text()}`);
  // The payment reaches D1 with the next group commit, a moment after the 200.
  for (let attempt = 0; attempt < 50; attempt++) {
    const page = await callApi(server, "/v1/admin/quarantine?limit=100");
    const payment = page.data.find((candidate) => candidate.bank_transaction_id === event.data.bank_transaction_id);
    if (payment) return payment;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error("The quarantined payment never appeared.");
}

export async function createMerchant(server, name) {
  return callApi(server, "/v1/merchants", { method: "POST", body: { name } });
}

export async function createCustomer(server, merchantKey, name) {
  return callApi(server, "/v1/customers", { method: "POST", key: merchantKey, body: { cuit: randomCuit(), name, cbu: randomCbu() } });
}

/** Opens the console and logs in with `key`; resolves once a view (or the refusal) shows. */
export async function logIn(page, server, key) {
  if (!page.url().startsWith(`${server.url}/console`)) await page.goto(`${server.url}/console`, { waitUntil: "domcontentloaded" });
  await page.waitForSelector("#operator-key", { visible: true });
  await page.type("#operator-key", key);
  await page.click("#login-form button[type=submit]");
}

/** Today's business date in Buenos Aires (YYYY-MM-DD). */
export function buenosAiresToday() {
  return new Intl.DateTimeFormat("en-CA", { timeZone: "America/Argentina/Buenos_Aires" }).format(new Date());
}
