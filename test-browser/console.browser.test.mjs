// The operator console in a real browser (Debian's Chromium driven by puppeteer-core) against a
// real `wrangler dev`: log in (a wrong key first), see a quarantined payment, assign it and see
// the customer's balance change, start a reconciliation, see its result and resolve a discrepancy.
//
// Part of `npm test` (after the workerd suite). Without Chromium it skips, saying so on stderr;
// with CONSOLE_BROWSER_REQUIRED=1 (set by .ci/run) a missing Chromium fails instead.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { startDevServer } from "../scripts/dev-server.mjs";
import { buenosAiresToday, callApi, createCustomer, createMerchant, findChromium, launchBrowser, logIn, quarantinePayment } from "../scripts/console-browser.mjs";

const chromium = findChromium();
if (!chromium) {
  const message = "Chromium not found: the console's browser test is SKIPPED. Install it (apt-get install -y chromium) or set CHROMIUM_PATH.";
  const line = "!".repeat(message.length + 4);
  process.stderr.write(`\n${line}\n! ${message} !\n${line}\n\n`);
  if (process.env.CONSOLE_BROWSER_REQUIRED === "1") {
    process.stderr.write("CONSOLE_BROWSER_REQUIRED=1: failing instead of skipping.\n");
    process.exitCode = 1;
  }
}

// A run that cannot finish must fail, never hang CI: past this, whatever is left is killed.
const WATCHDOG_MS = 8 * 60_000;

describe("operator console in Chromium", { skip: chromium ? false : "Chromium not found (see the message above)", timeout: 420_000 }, () => {
  let server;
  let browser;
  let page;
  let watchdog;
  // Stops a dev server still starting when before() gives up (after() aborts it).
  const starting = new AbortController();

  before(async () => {
    watchdog = setTimeout(() => {
      process.stderr.write(`The console's browser test did not finish within ${WATCHDOG_MS} ms: killing what it started.\n`);
      browser?.process()?.kill("SIGKILL");
      starting.abort();
      server?.stop();
      process.exit(1);
    }, WATCHDOG_MS);
    watchdog.unref();
    // Each is kept as soon as it exists, so that after() stops it even when the other failed.
    const started = Date.now();
    const took = () => `${((Date.now() - started) / 1000).toFixed(1)} s`;
    const steps = await Promise.allSettled([
      startDevServer({ timeoutMs: 150_000, migrationTimeoutMs: 120_000, log: process.env.CONSOLE_BROWSER_LOG === "1", signal: starting.signal }).then((value) => {
        server = value;
        return took();
      }),
      launchBrowser(chromium, { timeoutMs: 120_000 }).then((value) => {
        browser = value;
        return took();
      }),
    ]);
    const failures = steps.flatMap((step, i) => (step.status === "rejected" ? [`${["wrangler dev", "Chromium"][i]} failed after ${took()}: ${step.reason?.stack ?? step.reason}`] : []));
    if (failures.length > 0) throw new Error(failures.join("\n\n"));
    page = await browser.newPage();
    page.setDefaultTimeout(30_000);
  }, { timeout: 300_000 });

  after(async () => {
    clearTimeout(watchdog);
    starting.abort();
    await Promise.race([browser?.close(), new Promise((resolve) => setTimeout(resolve, 10_000))]);
    browser?.process()?.kill("SIGKILL");
    await server?.stop();
  }, { timeout: 30_000 });

  it("says a wrong key is wrong, and keeps nothing of it", async () => {
    await logIn(page, server, "sk_this_is_not_the_key");
    await page.waitForFunction(() => document.querySelector("#login-error")?.textContent.includes("Wrong key"));
    assert.equal(await page.$eval("#app", (element) => element.hidden), true);
    assert.equal(await page.evaluate(() => sessionStorage.length), 0);
  });

  it("logs in, shows a quarantined payment, assigns it and shows the customer's balance change", async () => {
    const merchant = await createMerchant(server, "Browser Test Merchant");
    const customer = await createCustomer(server, merchant.api_key, "Browser Test Customer");
    const held = await quarantinePayment(server, 424_242);

    await logIn(page, server, server.operatorKey);
    const row = `tr[data-payment-id="${held.id}"]`;
    await page.waitForSelector(row);
    assert.match(await page.$eval(row, (element) => element.textContent), /\$ 4\.242,42/);

    // The key is in this tab's sessionStorage only: not in a cookie, not in the address bar.
    assert.equal(await page.evaluate(() => sessionStorage.getItem("vaa.operatorKey")), server.operatorKey);
    assert.equal(await page.evaluate(() => document.cookie), "");
    assert.equal((await page.cookies()).length, 0);
    assert.ok(!page.url().includes(server.operatorKey));

    await page.$eval(`${row} input[name=customer_id]`, (input) => (input.value = ""));
    await page.type(`${row} input[name=customer_id]`, customer.id);
    await page.$eval(`${row} input[name=merchant_id]`, (input) => (input.value = ""));
    await page.type(`${row} input[name=merchant_id]`, merchant.id);
    await page.click(`${row} form[action$="/assign"] button`);
    await page.waitForSelector('[data-balance="after"]');
    assert.equal(await page.$eval('[data-balance="before"]', (element) => element.textContent), "$ 0,00");
    assert.equal(await page.$eval('[data-balance="after"]', (element) => element.textContent), "$ 4.242,42");
    assert.equal(await page.$(row), null);
    const balance = await callApi(server, `/v1/customers/${customer.id}/balance`, { key: merchant.api_key });
    assert.equal(balance.available, 424_242);
  });

  it("starts a reconciliation for a date and shows its result", async () => {
    await page.click('#views a[href="#/reconciliations"]');
    await page.waitForSelector("#start-date");
    const date = buenosAiresToday();
    await page.$eval("#start-date", (input, value) => (input.value = value), date);
    await page.click('form[action="/console/fragments/reconciliations"] button');
    await page.waitForFunction((value) => document.querySelector("#view-title")?.textContent === `Reconciliation of ${value}`, {}, date);
    // The run goes on in the background; its view refreshes itself until it ends.
    await page.waitForSelector('[data-run-status="completed"], [data-run-status="failed"]', { timeout: 45_000 });
    assert.equal(await page.$eval("[data-run-status]", (element) => element.textContent), "completed");
    const facts = await page.$eval("dl.facts", (element) => element.textContent);
    assert.match(facts, /Statement lines\d+/);
    assert.match(page.url(), /#\/reconciliations\/rec_/);
    // The assigned payment was never on the sandbox bank's statement: a discrepancy to resolve.
    assert.match(facts, /Missing at bank[1-9]/);
    await page.type("textarea[name=note]", "Sent by hand in the browser test, not through the bank.");
    await page.click("textarea[name=note] ~ button");
    await page.waitForFunction(() => document.querySelector(".notice.ok")?.textContent.includes("Resolved"));
    assert.ok((await page.$$eval(".badge.resolved", (badges) => badges.length)) >= 1);
  });
});
