// `npm run console:screenshots`: one PNG per console view in docs/console/, taken in Debian's
// Chromium (the browser test's setup) against a throwaway `wrangler dev` seeded through the API.
import { mkdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { buenosAiresToday, callApi, createCustomer, createMerchant, findChromium, launchBrowser, logIn, quarantinePayment, randomCbu, sendBankEvent, transferEvent } from "./console-browser.mjs";
import { startDevServer } from "./dev-server.mjs";

const OUT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "docs", "console");

const chromium = findChromium();
if (!chromium) {
  console.error("console:screenshots needs Chromium: apt-get install -y chromium (or set CHROMIUM_PATH).");
  process.exit(1);
}
mkdirSync(OUT, { recursive: true });

const [server, browser] = await Promise.all([startDevServer(), launchBrowser(chromium)]);
try {
  // Something in every view.
  const almacen = await createMerchant(server, "Almacén Don Pedro");
  await createMerchant(server, "Kiosco La Esquina");
  const juana = await createCustomer(server, almacen.api_key, "Juana Pérez");
  await quarantinePayment(server, 424_242, "transferencia varios");
  await quarantinePayment(server, 1_500_000, "pago factura 0001-00012345");
  // From a CUIT the platform knows, without a reference: held, with that customer suggested.
  const known = transferEvent({ amount: 98_765, concepto: "cuota noviembre", sender: { cuit: juana.cuit, name: juana.name, cbu: randomCbu() } });
  await sendBankEvent(server, known);
  // A reversal of a transfer the platform never saw: stored as a failed bank event.
  await sendBankEvent(server, { id: "evt_screenshot_reversal", type: "transfer.reversed", created_at: new Date().toISOString(), data: { bank_transaction_id: "bt_never_received", reversal_id: "rev_0001", reason: "fraud" } });
  await new Promise((resolve) => setTimeout(resolve, 500)); // the group commit

  const page = await browser.newPage();
  page.setDefaultTimeout(30_000);
  const shot = async (name) => {
    await page.screenshot({ path: path.join(OUT, `${name}.png`), fullPage: true });
    console.log(`docs/console/${name}.png`);
  };

  await page.goto(`${server.url}/console`, { waitUntil: "domcontentloaded" });
  await page.waitForSelector("#operator-key", { visible: true });
  await shot("login");

  await logIn(page, server, server.operatorKey);
  await page.waitForSelector("tr[data-payment-id]");
  await shot("quarantine");

  await page.click('#views a[href="#/reconciliations"]');
  await page.waitForSelector("#start-date");
  await page.$eval("#start-date", (input, value) => (input.value = value), buenosAiresToday());
  await page.click('form[action="/console/fragments/reconciliations"] button');
  await page.waitForSelector('[data-run-status="completed"], [data-run-status="failed"]', { timeout: 60_000 });
  await shot("reconciliation-run");
  await page.click('a[href="#/reconciliations"]:not(#views a)');
  await page.waitForSelector("table caption");
  await shot("reconciliation");

  await page.click('#views a[href="#/bank-events"]');
  await page.waitForFunction(() => document.querySelector("#view-title")?.textContent === "Failed bank events");
  await shot("bank-events");

  await page.click('#views a[href="#/invariants"]');
  await page.waitForSelector("li.check");
  await shot("invariants");

  await page.click('#views a[href="#/merchants"]');
  await page.waitForSelector("#merchant-name");
  await page.type("#merchant-name", "Ferretería El Tornillo");
  await page.click('form[action="/console/fragments/merchants"] button');
  await page.waitForSelector('[data-secret="api_key"]');
  await shot("merchants");
  await callApi(server, "/v1/merchants?limit=1");
} finally {
  await browser.close();
  await server.stop();
}
