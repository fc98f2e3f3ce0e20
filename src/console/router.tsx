/**
 * The operator console (/console): one server-rendered page, a static script, and HTML fragments
 * the script fetches with the operator key. Why fragments rendered here rather than a client app
 * that reads the JSON API: no build step and no client framework, every view and the money and
 * date formatting are plain server code tested in vitest, and each fragment is still only a
 * caller of the public API (api.ts), so the console can do nothing the key cannot.
 */
import { Hono, type Context } from "hono";
import type { AppEnv } from "../context";
import { customerAccount } from "../ledger/accounts";
import { apiClient, KeyRefused, type Api, type ApiFetch } from "./api";
import { CLIENT_SCRIPT } from "./client-script";
import { buenosAiresDate } from "./format";
import { ShellPage } from "./shell";
import {
  AssignedNotice,
  BankEventsView,
  CreatedMerchantNotice,
  InvariantsView,
  KeyRefusedView,
  MerchantsView,
  QuarantineView,
  ReconciliationsView,
  RunView,
  type CreatedMerchant,
  type Discrepancy,
  type InvariantCheck,
  type MerchantView,
  type Outcome,
  type Page,
  type QuarantinedPayment,
  type RunSummary,
  type StoredBankEvent,
} from "./views";

/** The page loads only its own script and styles, and nothing may frame it. */
const CONTENT_SECURITY_POLICY =
  "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self'; " +
  "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const PAGE_SIZE = "20";

type ConsoleContext = Context<AppEnv>;

function query(c: ConsoleContext, name: string): string | undefined {
  const value = c.req.query(name);
  return value ? value : undefined;
}

function listPath(path: string, params: Record<string, string | undefined>): string {
  const search = new URLSearchParams({ limit: PAGE_SIZE });
  for (const [name, value] of Object.entries(params)) if (value) search.set(name, value);
  return `${path}?${search}`;
}

/** A form field as text ('' when absent or a file). */
async function formFields(c: ConsoleContext): Promise<Record<string, string>> {
  const type = c.req.header("content-type") ?? "";
  if (!type.startsWith("application/x-www-form-urlencoded")) return {};
  const body = await c.req.parseBody();
  const fields: Record<string, string> = {};
  for (const [name, value] of Object.entries(body)) if (typeof value === "string") fields[name] = value;
  return fields;
}

/** A list the view cannot do without: an error here is shown as the view's notice. */
async function page<T>(api: Api, path: string): Promise<{ page: Page<T>; outcome: Outcome }> {
  const result = await api<Page<T>>(path);
  if (result.ok) return { page: result.body, outcome: null };
  return { page: { data: [], has_more: false, next_cursor: null }, outcome: { problem: result.problem } };
}

async function customerBalance(api: Api, customerId: string, currency: string): Promise<number | null> {
  const result = await api<{ balances: { posted: number } }>(`/v1/ledger/accounts/${encodeURIComponent(customerAccount(customerId, currency).id)}`);
  return result.ok ? result.body.balances.posted : null;
}

async function renderQuarantine(c: ConsoleContext, api: Api, outcome: Outcome, status = 200) {
  const cursor = query(c, "cursor");
  const list = await page<QuarantinedPayment>(api, listPath("/v1/admin/quarantine", { cursor }));
  return c.html(<QuarantineView page={list.page} cursor={cursor} outcome={outcome ?? list.outcome} />, status as 200);
}

async function renderReconciliations(c: ConsoleContext, api: Api, outcome: Outcome, status = 200) {
  const cursor = query(c, "cursor");
  const date = query(c, "date");
  const list = await page<RunSummary>(api, listPath("/v1/admin/reconciliations", { cursor, date }));
  return c.html(<ReconciliationsView page={list.page} date={date} cursor={cursor} today={buenosAiresDate()} outcome={outcome ?? list.outcome} />, status as 200);
}

async function renderRun(c: ConsoleContext, api: Api, runId: string, outcome: Outcome, status = 200) {
  const run = await api<RunSummary>(`/v1/admin/reconciliations/${encodeURIComponent(runId)}`);
  if (!run.ok) return renderReconciliations(c, api, { problem: run.problem }, run.problem.status);
  const cursor = query(c, "cursor");
  const list = await page<Discrepancy>(api, listPath(`/v1/admin/reconciliations/${encodeURIComponent(runId)}/discrepancies`, { cursor }));
  return c.html(<RunView run={run.body} discrepancies={list.page} cursor={cursor} outcome={outcome ?? list.outcome} />, status as 200);
}

async function renderBankEvents(c: ConsoleContext, api: Api, outcome: Outcome, status = 200) {
  const cursor = query(c, "cursor");
  const which = query(c, "status") === "all" ? "all" : "failed";
  const list = await page<StoredBankEvent>(api, listPath("/v1/admin/bank-events", { cursor, status: which === "failed" ? "failed" : undefined }));
  return c.html(<BankEventsView page={list.page} status={which} cursor={cursor} outcome={outcome ?? list.outcome} />, status as 200);
}

async function renderMerchants(c: ConsoleContext, api: Api, outcome: Outcome, status = 200) {
  const cursor = query(c, "cursor");
  const list = await page<MerchantView>(api, listPath("/v1/merchants", { cursor }));
  return c.html(<MerchantsView page={list.page} cursor={cursor} outcome={outcome ?? list.outcome} />, status as 200);
}

export function consoleRouter(fetchApi: ApiFetch) {
  const router = new Hono<AppEnv>();

  router.use("*", async (c, next) => {
    await next();
    c.header("Content-Security-Policy", CONTENT_SECURITY_POLICY);
    c.header("Referrer-Policy", "no-referrer");
    c.header("X-Content-Type-Options", "nosniff");
    c.header("Cache-Control", "no-store");
  });

  router.get("/", (c) => c.html(`<!doctype html>${(<ShellPage />).toString()}`));
  router.get("/app.js", (c) => c.body(CLIENT_SCRIPT, 200, { "content-type": "text/javascript; charset=utf-8" }));

  const fragments = new Hono<AppEnv>();
  // No key, no API call: the same answer as a refused key, so the script asks for one.
  fragments.use("*", async (c, next) => {
    if (!c.req.header("authorization")) return c.html(<KeyRefusedView status={401} detail="Missing bearer API key." />, 401);
    return next();
  });
  fragments.onError((error, c) => {
    if (error instanceof KeyRefused) return c.html(<KeyRefusedView status={error.status} detail={error.detail} />, error.status);
    throw error;
  });

  const api = (c: ConsoleContext) => apiClient(c, fetchApi);

  fragments.get("/quarantine", (c) => renderQuarantine(c, api(c), null));
  fragments.post("/quarantine/:id/assign", async (c) => {
    const call = api(c);
    const id = c.req.param("id");
    const fields = await formFields(c);
    const customerId = (fields.customer_id ?? "").trim();
    const merchantId = (fields.merchant_id ?? "").trim();
    // The currency comes from the payment itself, read back by the assignment.
    const before = customerId ? await customerBalance(call, customerId, "ARS") : null;
    const result = await call<{ amount: number; currency: string }>(`/v1/admin/quarantine/${encodeURIComponent(id)}/assign`, {
      method: "POST",
      body: { customer_id: customerId, merchant_id: merchantId },
      idempotencyKey: fields.idempotency_key,
    });
    if (!result.ok) return renderQuarantine(c, call, { problem: result.problem }, result.problem.status);
    const { amount, currency } = result.body;
    const beforeInCurrency = currency === "ARS" ? before : await customerBalance(call, customerId, currency).then((now) => (now === null ? null : now - amount));
    const after = await customerBalance(call, customerId, currency);
    const notice = <AssignedNotice paymentId={id} customerId={customerId} merchantId={merchantId} amount={amount} currency={currency} before={beforeInCurrency} after={after} />;
    return renderQuarantine(c, call, { ok: notice });
  });
  fragments.post("/quarantine/:id/return", async (c) => {
    const call = api(c);
    const id = c.req.param("id");
    const fields = await formFields(c);
    const result = await call<{ payout: { id: string; status: string; destination_cbu: string } }>(`/v1/admin/quarantine/${encodeURIComponent(id)}/return`, {
      method: "POST",
      idempotencyKey: fields.idempotency_key,
    });
    if (!result.ok) return renderQuarantine(c, call, { problem: result.problem }, result.problem.status);
    const { payout } = result.body;
    const notice = (
      <p>
        Returning <code>{id}</code> to CBU <code>{payout.destination_cbu}</code>: payout <code>{payout.id}</code> is {payout.status}. The payment stays listed until the bank confirms.
      </p>
    );
    return renderQuarantine(c, call, { ok: notice });
  });

  fragments.get("/reconciliations", (c) => renderReconciliations(c, api(c), null));
  fragments.post("/reconciliations", async (c) => {
    const call = api(c);
    const fields = await formFields(c);
    const result = await call<{ id: string; date: string }>("/v1/admin/reconciliations", {
      method: "POST",
      body: { date: fields.date ?? "" },
      idempotencyKey: fields.idempotency_key,
    });
    if (!result.ok) return renderReconciliations(c, call, { problem: result.problem }, result.problem.status);
    return renderRun(c, call, result.body.id, { ok: <p>Started the reconciliation of {result.body.date}.</p> });
  });
  fragments.get("/reconciliations/:id", (c) => renderRun(c, api(c), c.req.param("id"), null));
  fragments.post("/reconciliations/:id/discrepancies/:discrepancy/resolve", async (c) => {
    const call = api(c);
    const runId = c.req.param("id");
    const fields = await formFields(c);
    const result = await call(
      `/v1/admin/reconciliations/${encodeURIComponent(runId)}/discrepancies/${encodeURIComponent(c.req.param("discrepancy"))}/resolve`,
      { method: "POST", body: { note: fields.note ?? "" }, idempotencyKey: fields.idempotency_key },
    );
    if (!result.ok) return renderRun(c, call, runId, { problem: result.problem }, result.problem.status);
    return renderRun(c, call, runId, { ok: <p>Resolved, with your note.</p> });
  });

  fragments.get("/bank-events", (c) => renderBankEvents(c, api(c), null));
  fragments.post("/bank-events/:id/retry", async (c) => {
    const call = api(c);
    const id = c.req.param("id");
    const fields = await formFields(c);
    const result = await call<StoredBankEvent>(`/v1/admin/bank-events/${encodeURIComponent(id)}/retry`, { method: "POST", idempotencyKey: fields.idempotency_key });
    if (!result.ok) return renderBankEvents(c, call, { problem: result.problem }, result.problem.status);
    const event = result.body;
    const outcome: Outcome =
      event.status === "processed"
        ? { ok: <p>Retried <code>{id}</code>: processed.</p> }
        : { problem: { status: 200, code: "still_failing", detail: `Retried ${id}: it failed again (${event.error ?? "no error recorded"}).`, errors: [] } };
    return renderBankEvents(c, call, outcome);
  });

  fragments.get("/invariants", async (c) => {
    const result = await api(c)<{ ok: boolean; checks: InvariantCheck[] }>("/v1/admin/invariants");
    if (!result.ok) return c.html(<InvariantsView ok={false} checks={[{ name: "invariants", ok: false, detail: result.problem.detail }]} />, result.problem.status as 500);
    return c.html(<InvariantsView ok={result.body.ok} checks={result.body.checks} />);
  });

  fragments.get("/merchants", (c) => renderMerchants(c, api(c), null));
  fragments.post("/merchants", async (c) => {
    const call = api(c);
    const fields = await formFields(c);
    const webhookUrl = (fields.webhook_url ?? "").trim();
    const result = await call<CreatedMerchant>("/v1/merchants", {
      method: "POST",
      body: { name: fields.name ?? "", ...(webhookUrl ? { webhook_url: webhookUrl } : {}) },
      idempotencyKey: fields.idempotency_key,
    });
    if (!result.ok) return renderMerchants(c, call, { problem: result.problem }, result.problem.status);
    return renderMerchants(c, call, { ok: <CreatedMerchantNotice merchant={result.body} /> }, 201);
  });

  router.route("/fragments", fragments);
  return router;
}
