/**
 * The D1 statements of one group commit: many cash-ins (payment.recorded projections whose
 * customer's object already credited them) written in one atomic batch of a fixed number of
 * statements, however many cash-ins it carries. Each statement reads its rows from one JSON
 * parameter (`json_each`), so no statement comes near D1's 100 bound parameters.
 *
 * Exactly once by construction: every insert is strict (no ON CONFLICT), so if any of the
 * group's payments or ledger transactions already exists (a replay by a customer's alarm raced
 * this batch), D1 rolls the whole batch back and nothing is counted twice. Balances move once
 * per account per batch, by the sums of exactly the entries this batch inserted.
 */
import { merchantAccount } from "../ledger/accounts";
import { assertBalanced, type EntrySpec } from "../ledger/posting";
import { paymentColumns, paymentEntries, paymentValues } from "./projection-statements";
import { confirmationKey, fingerprintOf, ledgerTransactionIdOf, type Projection } from "./projections";

export type PaymentProjection = Extract<Projection, { kind: "payment.recorded" }>;

interface BalanceDelta {
  debits: bigint;
  credits: bigint;
}

/** Every account the group moves, with the sums of its entries (bigint: 100 × 10^14 passes 2^53). */
export function balanceDeltas(projections: PaymentProjection[]): Map<string, BalanceDelta> {
  const deltas = new Map<string, BalanceDelta>();
  for (const projection of projections) {
    for (const entry of entriesOf(projection)) {
      const delta = deltas.get(entry.account_id) ?? { debits: 0n, credits: 0n };
      if (entry.direction === "debit") delta.debits += BigInt(entry.amount);
      else delta.credits += BigInt(entry.amount);
      deltas.set(entry.account_id, delta);
    }
  }
  return deltas;
}

/** The merchant balance rows a group updates: one per merchant and currency, however many of its customers paid. */
export function merchantRowsOf(projections: PaymentProjection[]): number {
  const rows = new Set<string>();
  for (const { payment } of projections) if (payment.merchant_id) rows.add(merchantAccount(payment.merchant_id, payment.currency).id);
  return rows.size;
}

function entriesOf(projection: PaymentProjection): EntrySpec[] {
  const entries = paymentEntries(projection.payment);
  assertBalanced(entries);
  return entries;
}

/**
 * The group's batch: events, payments, ledger transactions and entries (strict inserts), the
 * balances (one update per account), the overflow guard, the confirmations (of the new ones
 * and of `alreadyRecorded`, which D1 holds with this data and route already), and each
 * customer's latest merchant.
 */
export function groupCommitStatements(d1: D1Database, fresh: PaymentProjection[], alreadyRecorded: PaymentProjection[], now: number): D1PreparedStatement[] {
  const statements: D1PreparedStatement[] = [];
  const events = fresh.flatMap((projection) => (projection.event ? [projection.event] : []));
  if (events.length > 0) {
    statements.push(
      d1
        .prepare(
          `INSERT INTO bank_events (id, type, status, payload, received_at, updated_at)
           SELECT e.value->>'id', e.value->>'type', 'processed', e.value->>'payload', e.value->>'received_at', ?2 FROM json_each(?1) AS e WHERE true
           ON CONFLICT (id) DO UPDATE SET status = 'processed', error = NULL, attempts = attempts + 1, updated_at = excluded.updated_at`,
        )
        .bind(JSON.stringify(events), now),
    );
  }
  if (fresh.length > 0) {
    const payments = fresh.map(paymentValues);
    statements.push(
      d1
        .prepare(
          `INSERT INTO payments (${paymentColumns}, updated_at)
           SELECT p.value->>0, p.value->>1, p.value->>2, p.value->>3, p.value->>4, p.value->>5, p.value->>6, p.value->>7, p.value->>8,
             p.value->>9, p.value->>10, p.value->>11, p.value->>12, p.value->>13, p.value->>14, p.value->>15, p.value->>16,
             p.value->>17, p.value->>18, p.value->>19, ?2
           FROM json_each(?1) AS p`,
        )
        .bind(JSON.stringify(payments), now),
    );
    const transactions = fresh.map((projection) => [ledgerTransactionIdOf(projection.payment.id), projection.payment.id, projection.payment.booked_at]);
    statements.push(
      d1
        .prepare(
          `INSERT INTO ledger_transactions (id, status, description, ledgerable_type, ledgerable_id, effective_at, created_at, updated_at)
           SELECT t.value->>0, 'posted', 'Cash-in', 'payment', t.value->>1, t.value->>2, ?2, ?2 FROM json_each(?1) AS t`,
        )
        .bind(JSON.stringify(transactions), now),
    );
    const entries = fresh.flatMap((projection) => {
      const transactionId = ledgerTransactionIdOf(projection.payment.id);
      return entriesOf(projection).map((entry, index) => [`${transactionId}:${index}`, transactionId, entry.account_id, entry.direction, entry.amount, entry.may_overdraw ? 1 : 0]);
    });
    statements.push(
      d1
        .prepare(
          `INSERT INTO ledger_entries (id, transaction_id, ledger_account_id, direction, amount, status, may_overdraw, created_at, aggregated)
           SELECT e.value->>0, e.value->>1, e.value->>2, e.value->>3, e.value->>4, 'posted', e.value->>5, ?2, 1 FROM json_each(?1) AS e`,
        )
        .bind(JSON.stringify(entries), now),
    );
    const deltas = [...balanceDeltas(fresh)].map(([account, delta]) => [account, delta.debits.toString(), delta.credits.toString()]);
    statements.push(
      d1
        .prepare(
          `UPDATE ledger_accounts SET posted_debits = posted_debits + CAST(d.value->>1 AS INTEGER),
             posted_credits = posted_credits + CAST(d.value->>2 AS INTEGER),
             -- never backwards: \`now\` was taken before this group's reads, and a transfer
             -- committed meanwhile may have stamped a later time (migrations/0022)
             updated_at = max(ledger_accounts.updated_at, ?2)
           FROM json_each(?1) AS d WHERE ledger_accounts.id = d.value->>0`,
        )
        .bind(JSON.stringify(deltas), now),
      d1
        .prepare(
          // Every credit-normal balance is money owed and shares the 2^53 − 1 ceiling, as the
          // entry trigger checks (migrations/0015).
          `INSERT INTO overflow_guards (reason) SELECT 'balance_overflow' WHERE EXISTS (
             SELECT 1 FROM ledger_accounts WHERE id IN (SELECT d.value->>0 FROM json_each(?1) AS d)
               AND normal_balance = 'credit' AND posted_credits + pending_credits - posted_debits > 9007199254740991)`,
        )
        .bind(JSON.stringify(deltas)),
    );
    // A customer's latest merchant (API §4): the last of its payments in this group.
    const latestMerchant = new Map<string, string>();
    for (const { payment } of fresh) if (payment.customer_id && payment.merchant_id) latestMerchant.set(payment.customer_id, payment.merchant_id);
    if (latestMerchant.size > 0) {
      statements.push(
        d1
          .prepare("UPDATE customers SET last_merchant_id = c.value->>1 FROM json_each(?1) AS c WHERE customers.id = c.value->>0")
          .bind(JSON.stringify([...latestMerchant])),
      );
    }
  }
  const confirmations = [...fresh, ...alreadyRecorded].map(confirmationKey);
  if (confirmations.length > 0) {
    statements.push(
      d1
        .prepare("INSERT INTO applied_projections (id, applied_at) SELECT value, ?2 FROM json_each(?1) WHERE true ON CONFLICT DO NOTHING")
        .bind(JSON.stringify(confirmations), now),
    );
  }
  return statements;
}

export interface RecordedPayment {
  id: string;
  fingerprint: string | null;
  customer_id: string | null;
  merchant_id: string | null;
  matched_by: string | null;
  amount: number;
  currency: string;
}

/** What D1 already holds of these payments: one read, before the group is built. */
export async function recordedPayments(d1: D1Database, paymentIds: string[]): Promise<Map<string, RecordedPayment>> {
  const { results } = await d1
    .prepare("SELECT id, fingerprint, customer_id, merchant_id, matched_by, amount, currency FROM payments WHERE id IN (SELECT value FROM json_each(?1))")
    .bind(JSON.stringify(paymentIds))
    .all<RecordedPayment>();
  return new Map(results.map((row) => [row.id, row]));
}

/** Whether D1's payment carries this projection's data (rows from before fingerprints: amount and currency). */
export function sameData(recorded: Pick<RecordedPayment, "fingerprint" | "amount" | "currency">, projection: PaymentProjection): boolean {
  if (recorded.fingerprint !== null) return recorded.fingerprint === fingerprintOf(projection);
  return recorded.amount === projection.payment.amount && recorded.currency === projection.payment.currency;
}

/**
 * Whether D1's payment is this delivery's routing. One the operator assigned (`manual`) never
 * is: it was quarantined first, and its customer was credited by the assignment (op
 * `<payment>:assign`), so a delivery routed there now is superseded, not a second credit.
 */
export function sameRoute(recorded: Pick<RecordedPayment, "customer_id" | "merchant_id" | "matched_by">, projection: PaymentProjection): boolean {
  return recorded.customer_id === projection.payment.customer_id && recorded.merchant_id === projection.payment.merchant_id && recorded.matched_by !== "manual";
}

/** A statement that always fails, to stand for a batch that dies half-way (tests' fault injection). */
export function failingStatement(d1: D1Database): D1PreparedStatement {
  return d1.prepare("INSERT INTO write_guards (reason) VALUES ('injected fault inside a group commit')");
}
