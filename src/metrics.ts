/**
 * Counters for the benchmark, per isolate (read by GET /v1/sandbox/metrics when SANDBOX=true).
 * Counting is a few integer additions: it is always on, and nothing reads it in production.
 */
export const counters = {
  /** Rows of merchant balances (ledger_accounts of kind merchant) updated, however many entries moved them. */
  merchant_row_writes: 0,
  /** Group commits written (one D1 batch each) and the operations they carried. */
  group_commits: 0,
  group_commit_operations: 0,
};

export function countMerchantRowWrites(rows: number): void {
  counters.merchant_row_writes += rows;
}

export function countGroupCommit(operations: number): void {
  counters.group_commits += 1;
  counters.group_commit_operations += operations;
}
