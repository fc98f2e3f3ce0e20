/**
 * What each payment and payout must have posted, written from the accounting (docs/MONEY.md's
 * table of movements) rather than imported from the code that posts it, so that the sweeps
 * check that code instead of repeating it. And how to compare it with what the ledger holds.
 */
import { customerAccount, merchantAccount, merchantUnassignedAccount, platformAccountId, platformBalanceAccount, reserveAccount } from "../accounts";

export interface Entry {
  account: string;
  direction: "debit" | "credit";
  amount: number;
}

/** A ledger transaction as the sweeps read it: its status and entries (none if it has none). */
export interface PostedTransaction {
  status: string;
  entries: (Entry & { status: string })[];
}

/** Rows of `SELECT t.id, t.status, e.… FROM ledger_transactions t LEFT JOIN ledger_entries e`. */
export interface TransactionEntryRow {
  transaction_id: string;
  transaction_status: string;
  ledger_account_id: string | null;
  direction: "debit" | "credit" | null;
  amount: number | null;
  entry_status: string | null;
}

/** The statement reading every transaction with an id in [from, to], with its entries. */
export function transactionsInRange(d1: D1Database, from: string, to: string): D1PreparedStatement {
  return d1
    .prepare(
      `SELECT t.id AS transaction_id, t.status AS transaction_status, e.ledger_account_id, e.direction, e.amount, e.status AS entry_status
       FROM ledger_transactions t LEFT JOIN ledger_entries e ON e.transaction_id = t.id
       WHERE t.id BETWEEN ? AND ?`,
    )
    .bind(from, to);
}

export function groupTransactions(rows: TransactionEntryRow[]): Map<string, PostedTransaction> {
  const transactions = new Map<string, PostedTransaction>();
  for (const row of rows) {
    const transaction = transactions.get(row.transaction_id) ?? { status: row.transaction_status, entries: [] };
    if (row.ledger_account_id !== null && row.direction !== null && row.amount !== null && row.entry_status !== null) {
      transaction.entries.push({ account: row.ledger_account_id, direction: row.direction, amount: row.amount, status: row.entry_status });
    }
    transactions.set(row.transaction_id, transaction);
  }
  return transactions;
}

const dr = (account: string, amount: number): Entry => ({ account, direction: "debit", amount });
const cr = (account: string, amount: number): Entry => ({ account, direction: "credit", amount });

export interface PaymentFacts {
  id: string;
  amount: number;
  currency: string;
  customer_id: string | null;
  merchant_id: string | null;
  /** Commission (API §12) the payment's crediting transaction moved: payments.fee_amount. */
  fee_amount: number;
}

/** Commission, inside the crediting transaction: Dr merchant / Cr platform; nothing for 0. */
function commission(merchant_id: string, currency: string, fee: number): Entry[] {
  return fee === 0 ? [] : [dr(merchantAccount(merchant_id, currency).id, fee), cr(platformBalanceAccount(currency).id, fee)];
}

/** A cash-in held in suspense: Dr settlement / Cr suspense. */
export function quarantinedCashIn({ amount, currency }: PaymentFacts): Entry[] {
  return [dr(platformAccountId.settlement(currency), amount), cr(platformAccountId.suspense(currency), amount)];
}

/**
 * A routed cash-in: Dr settlement / Cr customer (or the merchant's unassigned funds); Dr
 * attribution / Cr merchant; and its commission, Dr merchant / Cr platform.
 */
export function routedCashIn({ amount, currency, customer_id, merchant_id, fee_amount }: PaymentFacts & { merchant_id: string }): Entry[] {
  const owedTo = customer_id ? customerAccount(customer_id, currency).id : merchantUnassignedAccount(merchant_id, currency).id;
  return [
    dr(platformAccountId.settlement(currency), amount),
    cr(owedTo, amount),
    dr(platformAccountId.attribution(currency), amount),
    cr(merchantAccount(merchant_id, currency).id, amount),
    ...commission(merchant_id, currency, fee_amount),
  ];
}

/** The operator assigns a quarantined cash-in: Dr suspense / Cr customer; Dr attribution / Cr merchant; its commission. */
export function assignment({ amount, currency, customer_id, merchant_id, fee_amount }: PaymentFacts & { customer_id: string; merchant_id: string }): Entry[] {
  return [
    dr(platformAccountId.suspense(currency), amount),
    cr(customerAccount(customer_id, currency).id, amount),
    dr(platformAccountId.attribution(currency), amount),
    cr(merchantAccount(merchant_id, currency).id, amount),
    ...commission(merchant_id, currency, fee_amount),
  ];
}

/** The bank takes a cash-in back, from where it is owed now: the whole amount, the commission is kept (docs/MONEY.md "Commission"). */
export function reversal({ amount, currency, customer_id, merchant_id }: PaymentFacts): Entry[] {
  if (merchant_id === null) return [dr(platformAccountId.suspense(currency), amount), cr(platformAccountId.settlement(currency), amount)];
  const owedBy = customer_id ? customerAccount(customer_id, currency).id : merchantUnassignedAccount(merchant_id, currency).id;
  return [
    dr(owedBy, amount),
    cr(platformAccountId.settlement(currency), amount),
    dr(merchantAccount(merchant_id, currency).id, amount),
    cr(platformAccountId.attribution(currency), amount),
  ];
}

export interface PayoutFacts {
  kind: "payout" | "return" | "merchant_payout";
  amount: number;
  withheld_amount: number;
  currency: string;
  customer_id: string | null;
  merchant_id: string | null;
}

/**
 * A payout: Dr customer / Cr settlement; Dr merchant / Cr attribution. A return: Dr suspense /
 * Cr settlement. A merchant payout: Dr merchant / Cr settlement for what the bank is sent
 * (amount − withheld; no entries when it was withheld whole).
 */
export function payoutEntries({ kind, amount, withheld_amount, currency, customer_id, merchant_id }: PayoutFacts): Entry[] | null {
  if (kind === "return") return [dr(platformAccountId.suspense(currency), amount), cr(platformAccountId.settlement(currency), amount)];
  if (kind === "merchant_payout") {
    if (merchant_id === null || customer_id !== null) return null;
    const net = amount - withheld_amount;
    return net === 0 ? [] : [dr(merchantAccount(merchant_id, currency).id, net), cr(platformAccountId.settlement(currency), net)];
  }
  if (customer_id === null || merchant_id === null) return null;
  return [
    dr(customerAccount(customer_id, currency).id, amount),
    cr(platformAccountId.settlement(currency), amount),
    dr(merchantAccount(merchant_id, currency).id, amount),
    cr(platformAccountId.attribution(currency), amount),
  ];
}

/** A merchant payout's withholding into its reserve (posted at creation): Dr merchant / Cr reserve. */
export function withholding(merchantId: string, currency: string, amount: number): Entry[] {
  return [dr(merchantAccount(merchantId, currency).id, amount), cr(reserveAccount(merchantId, currency).id, amount)];
}

/** A reserve hold released by the cron: Dr reserve / Cr merchant. */
export function release(merchantId: string, currency: string, amount: number): Entry[] {
  return [dr(reserveAccount(merchantId, currency).id, amount), cr(merchantAccount(merchantId, currency).id, amount)];
}

const key = (entry: Entry) => `${entry.direction === "debit" ? "Dr" : "Cr"} ${entry.account} ${entry.amount}`;
const describe = (entries: Entry[]) => (entries.length === 0 ? "no entries" : entries.map(key).sort().join(" / "));

/**
 * Why `transaction` is not what was expected (`status`, exactly `entries` in any order, each
 * entry of the transaction's status), or null if it is.
 */
export function transactionMismatch(id: string, transaction: PostedTransaction | undefined, status: string, entries: Entry[]): string | null {
  if (!transaction) return `${id} is missing`;
  const problems: string[] = [];
  if (transaction.status !== status) problems.push(`${id} is ${transaction.status}, expected ${status}`);
  const found = transaction.entries.map(key).sort();
  const expected = entries.map(key).sort();
  if (found.length !== expected.length || found.some((entry, index) => entry !== expected[index])) {
    problems.push(`${id} has ${describe(transaction.entries)}, expected ${describe(entries)}`);
  }
  const offStatus = transaction.entries.filter((entry) => entry.status !== status).length;
  if (offStatus > 0) problems.push(`${id} has ${offStatus} entries not ${status}`);
  return problems.length === 0 ? null : problems.join("; ");
}
