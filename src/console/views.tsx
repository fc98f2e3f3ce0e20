/** The console's views, rendered on the server from the API's answers (see router.tsx). */
import type { Child } from "hono/jsx";
import type { StoredBankEventView } from "../routes/admin";
import type { Problem } from "./api";
import { IdempotencyKey, Money, Notice, Pager, ProblemNotice, ViewRoot, When } from "./components";

export interface Page<T> {
  data: T[];
  has_more: boolean;
  next_cursor: string | null;
}

export interface QuarantinedPayment {
  id: string;
  amount: number;
  currency: string;
  bank_transaction_id: string;
  sender: { cuit: string | null; name: string | null; cbu: string | null };
  concepto: string | null;
  created_at: string;
  age_seconds: number;
  suggestion: { customer_id: string; merchant_id: string | null; reason: string } | null;
}

/** What an action left to say above the view it returns to. */
export type Outcome = { ok: Child } | { problem: Problem } | null;

function OutcomeNotice(props: { outcome: Outcome }) {
  const { outcome } = props;
  if (!outcome) return null;
  if ("problem" in outcome) return <ProblemNotice problem={outcome.problem} />;
  return <Notice kind="ok">{outcome.ok}</Notice>;
}

function Sender(props: { sender: QuarantinedPayment["sender"] }) {
  const { sender } = props;
  return (
    <>
      {sender.name ?? <span class="muted">(no name)</span>}
      <br />
      <small>
        CUIT {sender.cuit ?? "—"} · CBU {sender.cbu ?? "—"}
      </small>
    </>
  );
}

export function QuarantineView(props: { page: Page<QuarantinedPayment>; cursor?: string; outcome: Outcome }) {
  const { page } = props;
  return (
    <ViewRoot view="/quarantine" title="Quarantine">
      <OutcomeNotice outcome={props.outcome} />
      <p class="lead">Cash-ins no customer could be matched to. Assign each to its customer, or send it back to the sender's CBU.</p>
      {page.data.length === 0 ? (
        <p>No payment is held in quarantine.</p>
      ) : (
        <table>
          <caption>Held payments, newest first</caption>
          <thead>
            <tr>
              <th scope="col">Received</th>
              <th scope="col">Amount</th>
              <th scope="col">Sender</th>
              <th scope="col">Concepto</th>
              <th scope="col">Suggested customer</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {page.data.map((payment) => (
              <tr data-payment-id={payment.id}>
                <td>
                  <When at={payment.created_at} />
                  <br />
                  <small>
                    <code>{payment.id}</code>
                  </small>
                </td>
                <td class="num">
                  <Money amount={payment.amount} currency={payment.currency} />
                </td>
                <td>
                  <Sender sender={payment.sender} />
                </td>
                <td>{payment.concepto ?? <span class="muted">—</span>}</td>
                <td>
                  {payment.suggestion ? (
                    <>
                      <code>{payment.suggestion.customer_id}</code>
                      <br />
                      <small>{payment.suggestion.reason}</small>
                    </>
                  ) : (
                    <span class="muted">none</span>
                  )}
                </td>
                <td class="actions">
                  <form method="post" action={`/console/fragments/quarantine/${encodeURIComponent(payment.id)}/assign`} class="inline">
                    <IdempotencyKey />
                    <label for={`customer-${payment.id}`}>Customer ID</label>
                    <input id={`customer-${payment.id}`} name="customer_id" required value={payment.suggestion?.customer_id ?? ""} autocomplete="off" />
                    <label for={`merchant-${payment.id}`}>Merchant ID</label>
                    <input id={`merchant-${payment.id}`} name="merchant_id" required value={payment.suggestion?.merchant_id ?? ""} autocomplete="off" />
                    <button type="submit">Assign</button>
                  </form>
                  <form method="post" action={`/console/fragments/quarantine/${encodeURIComponent(payment.id)}/return`} class="inline">
                    <IdempotencyKey />
                    <button type="submit" class="secondary" data-confirm={`Send ${payment.id} back to the sender's CBU?`}>
                      Return to sender
                    </button>
                  </form>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <Pager view="/quarantine" cursor={props.cursor} nextCursor={page.has_more ? page.next_cursor : null} />
    </ViewRoot>
  );
}

/** What an assignment did to the customer's balance (read from the ledger before and after). */
export function AssignedNotice(props: { paymentId: string; customerId: string; merchantId: string; amount: number; currency: string; before: number | null; after: number | null }) {
  return (
    <>
      <p>
        Assigned <code>{props.paymentId}</code> (<Money amount={props.amount} currency={props.currency} />) to customer <code>{props.customerId}</code> of merchant{" "}
        <code>{props.merchantId}</code>.
      </p>
      <dl class="balance" aria-label="Customer balance">
        <dt>Customer balance before</dt>
        <dd data-balance="before">
          <Money amount={props.before} currency={props.currency} />
        </dd>
        <dt>Customer balance now</dt>
        <dd data-balance="after">
          <Money amount={props.after} currency={props.currency} />
        </dd>
      </dl>
    </>
  );
}

export interface RunTotals {
  statement_lines: number;
  matched: number;
  missing_in_ledger: number;
  missing_at_bank: number;
  amount_mismatch: number;
}

export interface RunSummary {
  id: string;
  date: string;
  status: "running" | "completed" | "failed";
  trigger: "cron" | "operator";
  totals: RunTotals;
  steps: number;
  error: string | null;
  created_at: string;
  completed_at: string | null;
}

export interface Discrepancy {
  id: string;
  kind: string;
  direction: string;
  bank_transaction_id: string;
  ledger_amount: number | null;
  bank_amount: number | null;
  record_id: string | null;
  resolution: "recovered" | "open" | "resolved";
  detail: string | null;
  note: string | null;
}

export function ReconciliationsView(props: { page: Page<RunSummary>; date?: string; cursor?: string; today: string; outcome: Outcome }) {
  const { page } = props;
  return (
    <ViewRoot view="/reconciliations" title="Reconciliation">
      <OutcomeNotice outcome={props.outcome} />
      <p class="lead">Each run compares one business day of the bank's statement with the ledger.</p>
      <div class="toolbar">
        <form method="post" action="/console/fragments/reconciliations" class="inline">
          <IdempotencyKey />
          <label for="start-date">Business date</label>
          <input id="start-date" name="date" type="date" required value={props.today} />
          <button type="submit">Start a run</button>
        </form>
        <form method="get" data-view="/reconciliations" class="inline" role="search">
          <label for="filter-date">Show runs of</label>
          <input id="filter-date" name="date" type="date" value={props.date ?? ""} />
          <button type="submit" class="secondary">Filter</button>
        </form>
      </div>
      {page.data.length === 0 ? (
        <p>No reconciliation run{props.date ? ` for ${props.date}` : ""} yet.</p>
      ) : (
        <table>
          <caption>Runs, newest first</caption>
          <thead>
            <tr>
              <th scope="col">Date</th>
              <th scope="col">Status</th>
              <th scope="col">Started by</th>
              <th scope="col" class="num">Statement lines</th>
              <th scope="col" class="num">Matched</th>
              <th scope="col" class="num">Missing in ledger</th>
              <th scope="col" class="num">Missing at bank</th>
              <th scope="col" class="num">Amount mismatch</th>
              <th scope="col">Started</th>
              <th scope="col">Finished</th>
            </tr>
          </thead>
          <tbody>
            {page.data.map((run) => (
              <tr>
                <td>
                  <a href={`#/reconciliations/${encodeURIComponent(run.id)}`}>{run.date}</a>
                </td>
                <td>
                  <span class={`badge ${run.status}`}>{run.status}</span>
                </td>
                <td>{run.trigger}</td>
                <td class="num">{run.totals.statement_lines}</td>
                <td class="num">{run.totals.matched}</td>
                <td class="num">{run.totals.missing_in_ledger}</td>
                <td class="num">{run.totals.missing_at_bank}</td>
                <td class="num">{run.totals.amount_mismatch}</td>
                <td>
                  <When at={run.created_at} />
                </td>
                <td>
                  <When at={run.completed_at} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <Pager view="/reconciliations" query={{ date: props.date }} cursor={props.cursor} nextCursor={page.has_more ? page.next_cursor : null} />
    </ViewRoot>
  );
}

export function RunView(props: { run: RunSummary; discrepancies: Page<Discrepancy>; cursor?: string; outcome: Outcome }) {
  const { run, discrepancies } = props;
  const running = run.status === "running";
  return (
    <ViewRoot view={`/reconciliations/${run.id}`} title={`Reconciliation of ${run.date}`} refreshMs={running ? 1000 : undefined}>
      <OutcomeNotice outcome={props.outcome} />
      <p>
        <a href="#/reconciliations">All runs</a> · <code>{run.id}</code>
      </p>
      <dl class="facts">
        <dt>Status</dt>
        <dd>
          <span class={`badge ${run.status}`} data-run-status={run.status}>
            {run.status}
          </span>
          {running && <small> (this page refreshes itself until the run ends)</small>}
        </dd>
        <dt>Started</dt>
        <dd>
          <When at={run.created_at} /> by {run.trigger}
        </dd>
        <dt>Finished</dt>
        <dd>
          <When at={run.completed_at} />
        </dd>
        <dt>Statement lines</dt>
        <dd>{run.totals.statement_lines}</dd>
        <dt>Matched</dt>
        <dd>{run.totals.matched}</dd>
        <dt>Missing in ledger</dt>
        <dd>{run.totals.missing_in_ledger}</dd>
        <dt>Missing at bank</dt>
        <dd>{run.totals.missing_at_bank}</dd>
        <dt>Amount mismatch</dt>
        <dd>{run.totals.amount_mismatch}</dd>
        {run.error && (
          <>
            <dt>Error</dt>
            <dd>{run.error}</dd>
          </>
        )}
      </dl>
      <h3>Discrepancies</h3>
      {discrepancies.data.length === 0 ? (
        <p>{running ? "None found so far." : "None: the ledger and the bank agree."}</p>
      ) : (
        <table>
          <caption>Discrepancies, newest first</caption>
          <thead>
            <tr>
              <th scope="col">Kind</th>
              <th scope="col">Bank transaction</th>
              <th scope="col" class="num">Ledger</th>
              <th scope="col" class="num">Bank</th>
              <th scope="col">Record</th>
              <th scope="col">Detail</th>
              <th scope="col">Resolution</th>
            </tr>
          </thead>
          <tbody>
            {discrepancies.data.map((item) => (
              <tr>
                <td>
                  {item.kind.replaceAll("_", " ")}
                  <br />
                  <small>{item.direction}</small>
                </td>
                <td>
                  <code>{item.bank_transaction_id}</code>
                </td>
                <td class="num">
                  <Money amount={item.ledger_amount} />
                </td>
                <td class="num">
                  <Money amount={item.bank_amount} />
                </td>
                <td>{item.record_id ? <code>{item.record_id}</code> : <span class="muted">—</span>}</td>
                <td>{item.detail ?? <span class="muted">—</span>}</td>
                <td>
                  <span class={`badge ${item.resolution}`}>{item.resolution}</span>
                  {item.note && <p class="note">{item.note}</p>}
                  {item.resolution === "open" && (
                    <form method="post" action={`/console/fragments/reconciliations/${encodeURIComponent(run.id)}/discrepancies/${encodeURIComponent(item.id)}/resolve`}>
                      <IdempotencyKey />
                      <label for={`note-${item.id}`}>Note</label>
                      <textarea id={`note-${item.id}`} name="note" required maxlength={1000} rows={2}></textarea>
                      <button type="submit">Resolve</button>
                    </form>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <Pager view={`/reconciliations/${run.id}`} cursor={props.cursor} nextCursor={discrepancies.has_more ? discrepancies.next_cursor : null} />
    </ViewRoot>
  );
}

export type StoredBankEvent = StoredBankEventView;

export function BankEventsView(props: { page: Page<StoredBankEvent>; status: "failed" | "all"; cursor?: string; outcome: Outcome }) {
  const { page } = props;
  return (
    <ViewRoot view="/bank-events" title="Failed bank events">
      <OutcomeNotice outcome={props.outcome} />
      <p class="lead">Events the bank sent that could not be applied. Retry runs one through the same code as its first delivery.</p>
      <nav class="tabs" aria-label="Which events">
        <a href="#/bank-events" aria-current={props.status === "failed" ? "page" : undefined}>
          Failed only
        </a>
        <a href="#/bank-events?status=all" aria-current={props.status === "all" ? "page" : undefined}>
          All events
        </a>
      </nav>
      {page.data.length === 0 ? (
        <p>{props.status === "failed" ? "No failed bank event." : "No bank event yet."}</p>
      ) : (
        <table>
          <caption>Bank events, newest first</caption>
          <thead>
            <tr>
              <th scope="col">Received</th>
              <th scope="col">Type</th>
              <th scope="col">Status</th>
              <th scope="col" class="num">Attempts</th>
              <th scope="col">Error</th>
              <th scope="col">Action</th>
            </tr>
          </thead>
          <tbody>
            {page.data.map((event) => (
              <tr>
                <td>
                  <When at={event.received_at} />
                  <br />
                  <small>
                    <code>{event.id}</code>
                  </small>
                </td>
                <td>{event.type}</td>
                <td>
                  <span class={`badge ${event.status}`}>{event.status}</span>
                </td>
                <td class="num">{event.attempts}</td>
                <td>
                  {event.error ?? <span class="muted">—</span>}
                  <details>
                    <summary>Payload</summary>
                    <pre>{event.payload}</pre>
                  </details>
                </td>
                <td>
                  {event.status === "failed" && (
                    <form method="post" action={`/console/fragments/bank-events/${encodeURIComponent(event.id)}/retry`}>
                      <IdempotencyKey />
                      <button type="submit">Retry</button>
                    </form>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <Pager view="/bank-events" query={{ status: props.status === "all" ? "all" : undefined }} cursor={props.cursor} nextCursor={page.has_more ? page.next_cursor : null} />
    </ViewRoot>
  );
}

export interface InvariantCheck {
  name: string;
  ok: boolean;
  detail: string;
  coverage?: { unit: string; pass: { checked: number; total: number; total_is_lower_bound: boolean; complete: boolean; failures: number } };
}

export function InvariantsView(props: { ok: boolean; checks: InvariantCheck[] }) {
  return (
    <ViewRoot view="/invariants" title="Invariants">
      <p class={`summary ${props.ok ? "ok" : "bad"}`} role="status">
        {props.ok ? "✓ Every check holds." : "✗ At least one check does not hold (yet): see below."}
      </p>
      <p>
        <button type="button" data-reload>
          Check again
        </button>{" "}
        <small>Swept checks advance one window of rows per call: check again until they have covered everything.</small>
      </p>
      <ul class="checks">
        {props.checks.map((check) => (
          <li class={`check ${check.ok ? "ok" : "bad"}`} data-check={check.name}>
            <strong>
              <span aria-hidden="true">{check.ok ? "✓" : "✗"}</span> {check.name}
            </strong>{" "}
            <span class={`badge ${check.ok ? "ok" : "bad"}`}>{check.ok ? "holds" : "does not hold"}</span>
            <p>{check.detail}</p>
            {check.coverage && (
              <small>
                Sweep over {check.coverage.unit}: {check.coverage.pass.checked} of {check.coverage.pass.total_is_lower_bound ? "at least " : ""}
                {check.coverage.pass.total} checked in this pass
              </small>
            )}
          </li>
        ))}
      </ul>
    </ViewRoot>
  );
}

export interface MerchantView {
  id: string;
  name: string;
  reference: string;
  webhook_url: string | null;
  created_at: string;
}

export interface CreatedMerchant extends MerchantView {
  api_key: string | null;
  webhook_secret: string | null;
}

/** The secrets of a merchant just created: shown in this answer only, never again. */
export function CreatedMerchantNotice(props: { merchant: CreatedMerchant }) {
  const { merchant } = props;
  return (
    <>
      <p>
        Created <strong>{merchant.name}</strong> (<code>{merchant.id}</code>), deposit reference <code>{merchant.reference}</code>.
      </p>
      {merchant.api_key ? (
        <>
          <p>
            <strong>Copy these now: they are shown only once.</strong> Only their hashes are stored.
          </p>
          <dl class="secrets">
            <dt>API key</dt>
            <dd>
              <code data-secret="api_key">{merchant.api_key}</code>
            </dd>
            <dt>Webhook secret</dt>
            <dd>
              <code data-secret="webhook_secret">{merchant.webhook_secret}</code>
            </dd>
          </dl>
        </>
      ) : (
        <p>This was a repeat of a creation already answered: its key was shown then, and cannot be shown again. Issue a new key if it was lost.</p>
      )}
    </>
  );
}

export function MerchantsView(props: { page: Page<MerchantView>; cursor?: string; outcome: Outcome }) {
  const { page } = props;
  return (
    <ViewRoot view="/merchants" title="Merchants">
      <OutcomeNotice outcome={props.outcome} />
      <form method="post" action="/console/fragments/merchants" class="card">
        <h3>Create a merchant</h3>
        <IdempotencyKey />
        <p>
          <label for="merchant-name">Name</label>
          <input id="merchant-name" name="name" required maxlength={200} autocomplete="off" />
        </p>
        <p>
          <label for="merchant-webhook">Webhook URL (optional)</label>
          <input id="merchant-webhook" name="webhook_url" type="url" autocomplete="off" />
        </p>
        <button type="submit">Create merchant</button>
      </form>
      {page.data.length === 0 ? (
        <p>No merchant yet.</p>
      ) : (
        <table>
          <caption>Merchants, newest first</caption>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">ID</th>
              <th scope="col">Deposit reference</th>
              <th scope="col">Webhook URL</th>
              <th scope="col">Created</th>
            </tr>
          </thead>
          <tbody>
            {page.data.map((merchant) => (
              <tr>
                <td>{merchant.name}</td>
                <td>
                  <code>{merchant.id}</code>
                </td>
                <td>
                  <code>{merchant.reference}</code>
                </td>
                <td>{merchant.webhook_url ?? <span class="muted">—</span>}</td>
                <td>
                  <When at={merchant.created_at} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <Pager view="/merchants" cursor={props.cursor} nextCursor={page.has_more ? page.next_cursor : null} />
    </ViewRoot>
  );
}

/** The key was refused: the script shows this text on the login form and forgets the key. */
export function KeyRefusedView(props: { status: 401 | 403; detail: string }) {
  const message =
    props.status === 401
      ? `Wrong key: the API refused it (${props.detail})`
      : `This key is not the operator's (${props.detail}) Log in with ADMIN_API_KEY.`;
  return (
    <section class="view" data-key-refused={props.status}>
      <p role="alert" id="key-refused">
        {message}
      </p>
    </section>
  );
}
