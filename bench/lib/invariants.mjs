/**
 * GET /v1/admin/invariants sweeps the books a bounded window per call (src/ledger/sweeps/):
 * a verdict on the books as they are now needs calls until every sweep has completed a pass
 * that started after the first call. The same rule as test/money.ts's invariantsAfterFullPass.
 */
import { api, expectStatus } from "./http.mjs";

const coveredSince = (check, since) => {
  const last = check.coverage?.last_complete_pass;
  return !check.coverage || (last != null && Date.parse(last.started_at) >= since);
};

/** The report once every sweep covered the books, and the calls it took; throws past `maxCalls`. */
export async function invariantsAfterFullPass(key, maxCalls = 500) {
  const since = Date.now() - 1; // the endpoint's timestamps are whole milliseconds
  for (let call = 1; call <= maxCalls; call++) {
    const { json, text } = await expectStatus("invariants", api("GET", "/v1/admin/invariants", { key }), 200);
    if (!json?.checks) throw new Error(`invariants: unexpected answer ${text.slice(0, 300)}`);
    if (json.checks.every((check) => coveredSince(check, since))) return { ...json, calls: call };
  }
  throw new Error(`the invariants did not complete a pass of every sweep within ${maxCalls} calls`);
}

/** The failing checks of a report, as one line each. */
export function failingChecks(report) {
  return report.checks.filter((check) => !check.ok).map((check) => `${check.name}: ${check.detail}`);
}
