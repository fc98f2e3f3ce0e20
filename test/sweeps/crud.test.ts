/** Sweeps over HTTP (API §12): create, read, list, delete; validation; who may do what. */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { openAccountStatement, platformBalanceAccount } from "../../src/ledger/accounts";
import { api, bearer, createMerchant, expectFieldError, json, operatorHeaders } from "../helpers";
import { uniqueId } from "../money";
import { createSweep, getSweep, merchantBa, platformBa, postSweep, reserveBa, sweepBody, type SweepResponse } from "./sweep-helpers";

const path = (accountId: string, sweepId = "") => `/v1/balance-accounts/${accountId}/sweeps${sweepId ? `/${sweepId}` : ""}`;

describe("creating a sweep", () => {
  it("answers 201 with the sweep, active, its schedule in Buenos Aires, no run yet; GET shows the same", async () => {
    const merchant = await createMerchant();
    const source = merchantBa(merchant.id);
    const response = await postSweep(bearer(merchant.api_key), source, sweepBody({ schedule: { type: "daily", time: "07:30" }, sweep_type: "pull", trigger_amount: 5_000 }));
    expect(response.status).toBe(201);
    const sweep = (await response.json()) as SweepResponse;
    expect(sweep).toMatchObject({
      object: "sweep",
      balance_account_id: source,
      target_balance_account: platformBa,
      currency: "ARS",
      schedule: { type: "daily", time: "07:30", time_zone: "America/Argentina/Buenos_Aires" },
      sweep_type: "pull",
      trigger: "balance_exceeds",
      trigger_amount: 5_000,
      status: "active",
      last_run: null,
      deleted_at: null,
    });
    expect(sweep.id).toMatch(/^sw_/);
    expect(await getSweep(bearer(merchant.api_key), source, sweep.id)).toEqual(sweep);
    expect(await getSweep(operatorHeaders(), source, sweep.id)).toEqual(sweep);
  });

  it("a merchant may target another balance account: its reserve, another merchant's, the platform's", async () => {
    const merchant = await createMerchant();
    const other = await createMerchant();
    for (const target of [reserveBa(merchant.id), merchantBa(other.id), platformBa]) {
      const sweep = await createSweep(merchant.api_key, merchantBa(merchant.id), { target_balance_account: target });
      expect(sweep.target_balance_account).toBe(target);
    }
  });

  it("the operator may create one on any merchant's account and on the platform's", async () => {
    const merchant = await createMerchant();
    for (const [source, target] of [[merchantBa(merchant.id), platformBa], [platformBa, merchantBa(merchant.id)]] as const) {
      const response = await postSweep(operatorHeaders(), source, sweepBody({ target_balance_account: target }));
      expect(response.status).toBe(201);
      expect(((await response.json()) as SweepResponse).balance_account_id).toBe(source);
    }
  });

  it("honors Idempotency-Key: the same body replays the first answer, another body is 422, and no second sweep exists", async () => {
    const merchant = await createMerchant();
    const source = merchantBa(merchant.id);
    const key = uniqueId("idem");
    const first = await postSweep(bearer(merchant.api_key), source, sweepBody(), key);
    const again = await postSweep(bearer(merchant.api_key), source, sweepBody(), key);
    expect(first.status).toBe(201);
    expect(again.status).toBe(201);
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    expect(await again.json()).toEqual(await first.json());
    const changed = await postSweep(bearer(merchant.api_key), source, sweepBody({ trigger_amount: 1 }), key);
    expect(changed.status).toBe(422);
    expect(((await changed.json()) as { code: string }).code).toBe("idempotency_key_reused");
    const list = (await (await api(path(source), { headers: bearer(merchant.api_key) })).json()) as { data: unknown[] };
    expect(list.data).toHaveLength(1);
  });

  it("at most 20 active sweeps per balance account: the 21st is 422 invalid_state, until one is deleted", async () => {
    const merchant = await createMerchant();
    const source = merchantBa(merchant.id);
    const made = await Promise.all(Array.from({ length: 20 }, () => createSweep(merchant.api_key, source)));
    const refused = await postSweep(bearer(merchant.api_key), source, sweepBody());
    expect(refused.status).toBe(422);
    expect(((await refused.json()) as { code: string }).code).toBe("invalid_state");
    expect((await api(path(source, made[0]!.id), { method: "DELETE", headers: bearer(merchant.api_key) })).status).toBe(200);
    expect((await postSweep(bearer(merchant.api_key), source, sweepBody())).status).toBe(201);
  });

  it("concurrent creations never pass the bound", async () => {
    const merchant = await createMerchant();
    const source = merchantBa(merchant.id);
    const answers = await Promise.all(Array.from({ length: 25 }, () => postSweep(bearer(merchant.api_key), source, sweepBody())));
    expect(answers.filter((answer) => answer.status === 201)).toHaveLength(20);
    expect(answers.filter((answer) => answer.status === 422)).toHaveLength(5);
  });
});

describe("validation", () => {
  const cases: [string, Record<string, unknown>, string][] = [
    ["time 24:00", { schedule: { type: "daily", time: "24:00" } }, "schedule.time"],
    ["time 12:60", { schedule: { type: "daily", time: "12:60" } }, "schedule.time"],
    ["time 7:00", { schedule: { type: "daily", time: "7:00" } }, "schedule.time"],
    ["time as a number", { schedule: { type: "daily", time: 700 } }, "schedule.time"],
    ["a weekly schedule", { schedule: { type: "weekly", time: "07:00" } }, "schedule.type"],
    ["an unknown schedule field", { schedule: { type: "daily", time: "07:00", day: 1 } }, "schedule.day"],
    ["a negative trigger_amount", { trigger_amount: -1 }, "trigger_amount"],
    ["a fractional trigger_amount", { trigger_amount: 1.5 }, "trigger_amount"],
    ["a string trigger_amount", { trigger_amount: "100" }, "trigger_amount"],
    ["a trigger_amount over 10^14", { trigger_amount: 100_000_000_000_001 }, "trigger_amount"],
    ["another sweep_type", { sweep_type: "both" }, "sweep_type"],
    ["another trigger", { trigger: "balance_below" }, "trigger"],
    ["an unknown field", { currency: "ARS" }, "currency"],
  ];

  it.each(cases)("%s is 400 naming the field", async (_name, overrides, field) => {
    const merchant = await createMerchant();
    await expectFieldError(await postSweep(bearer(merchant.api_key), merchantBa(merchant.id), { ...sweepBody(), ...overrides }), field);
  });

  it("a missing field is 400 naming it", async () => {
    const merchant = await createMerchant();
    for (const field of ["schedule", "target_balance_account", "sweep_type", "trigger", "trigger_amount"] as const) {
      const body: Record<string, unknown> = { ...sweepBody() };
      delete body[field];
      await expectFieldError(await postSweep(bearer(merchant.api_key), merchantBa(merchant.id), body), field);
    }
  });

  it("the target must exist, differ from the source and share its currency", async () => {
    const merchant = await createMerchant();
    const source = merchantBa(merchant.id);
    await expectFieldError(await postSweep(bearer(merchant.api_key), source, sweepBody({ target_balance_account: source })), "target_balance_account");
    await expectFieldError(await postSweep(bearer(merchant.api_key), source, sweepBody({ target_balance_account: "ba_mnosuchmerchant_ars" })), "target_balance_account");
    await expectFieldError(await postSweep(bearer(merchant.api_key), source, sweepBody({ target_balance_account: "la_settlement_ars" })), "target_balance_account");
    await expectFieldError(await postSweep(bearer(merchant.api_key), source, sweepBody({ target_balance_account: "ba_settlement_ars" })), "target_balance_account");
    // A balance account in another currency (USD's platform account, opened directly: only ARS is enabled here).
    await env.DB.batch([openAccountStatement(env.DB, platformBalanceAccount("USD"), Date.now())]);
    await expectFieldError(await postSweep(operatorHeaders(), platformBa, sweepBody({ target_balance_account: "ba_platform_usd" })), "target_balance_account");
  });

  it("a reserve is never a source, whoever asks (400 naming id)", async () => {
    const merchant = await createMerchant();
    await expectFieldError(await postSweep(bearer(merchant.api_key), reserveBa(merchant.id), sweepBody()), "id");
    await expectFieldError(await postSweep(operatorHeaders(), reserveBa(merchant.id), sweepBody()), "id");
  });
});

describe("who sees what", () => {
  it("another merchant's balance account, or the platform's, is 404 to a merchant on every route; its sweeps stay untouched", async () => {
    const owner = await createMerchant();
    const intruder = await createMerchant();
    const source = merchantBa(owner.id);
    const sweep = await createSweep(owner.api_key, source);
    const platformSweep = (await (await postSweep(operatorHeaders(), platformBa, sweepBody({ target_balance_account: source }))).json()) as SweepResponse;
    for (const [account, id] of [[source, sweep.id], [platformBa, platformSweep.id]] as const) {
      for (const response of [
        await postSweep(bearer(intruder.api_key), account, sweepBody({ target_balance_account: merchantBa(intruder.id) })),
        await api(path(account), { headers: bearer(intruder.api_key) }),
        await api(path(account, id), { headers: bearer(intruder.api_key) }),
        await api(path(account, id), { method: "DELETE", headers: bearer(intruder.api_key) }),
      ]) {
        expect(response.status).toBe(404);
        expect(((await response.json()) as { code: string }).code).toBe("not_found");
      }
    }
    expect((await getSweep(bearer(owner.api_key), source, sweep.id)).status).toBe("active");
  });

  it("a sweep is found only under its own balance account", async () => {
    const merchant = await createMerchant();
    const sweep = await createSweep(merchant.api_key, merchantBa(merchant.id));
    expect((await api(path(reserveBa(merchant.id), sweep.id), { headers: bearer(merchant.api_key) })).status).toBe(404);
    expect((await api(path(merchantBa(merchant.id), "sw_nosuchsweep"), { headers: bearer(merchant.api_key) })).status).toBe(404);
  });

  it("no key is 401", async () => {
    const merchant = await createMerchant();
    expect((await api(path(merchantBa(merchant.id)), json(sweepBody()))).status).toBe(401);
    expect((await api(path(merchantBa(merchant.id)))).status).toBe(401);
  });
});

describe("listing and deleting", () => {
  it("lists active sweeps newest first, paginated", async () => {
    const merchant = await createMerchant();
    const source = merchantBa(merchant.id);
    const made: string[] = [];
    for (let index = 0; index < 5; index++) made.push((await createSweep(merchant.api_key, source, { trigger_amount: index })).id);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const query: string = `?limit=2${cursor ? `&cursor=${cursor}` : ""}`;
      const page = (await (await api(path(source) + query, { headers: bearer(merchant.api_key) })).json()) as { data: SweepResponse[]; has_more: boolean; next_cursor: string | null };
      expect(page.data.length).toBeLessThanOrEqual(2);
      seen.push(...page.data.map((sweep) => sweep.id));
      cursor = page.next_cursor;
    } while (cursor);
    // Newest first: by creation time, then id (two sweeps made in one millisecond order by id).
    const all = (await (await api(`${path(source)}?limit=100`, { headers: bearer(merchant.api_key) })).json()) as { data: SweepResponse[] };
    expect(seen).toEqual(all.data.map((sweep) => sweep.id));
    expect([...seen].sort()).toEqual([...made].sort());
    const created = all.data.map((sweep) => Date.parse(sweep.created_at as string));
    expect(created).toEqual([...created].sort((a, b) => b - a));
  });

  it("DELETE stops it and answers it deleted; it stays readable, listed only with status=deleted; a second DELETE answers the same", async () => {
    const merchant = await createMerchant();
    const source = merchantBa(merchant.id);
    const kept = await createSweep(merchant.api_key, source);
    const sweep = await createSweep(merchant.api_key, source);
    const deleted = await api(path(source, sweep.id), { method: "DELETE", headers: bearer(merchant.api_key) });
    expect(deleted.status).toBe(200);
    const body = (await deleted.json()) as SweepResponse;
    expect(body).toMatchObject({ id: sweep.id, status: "deleted" });
    expect(body.deleted_at).toEqual(expect.any(String));
    expect(await getSweep(bearer(merchant.api_key), source, sweep.id)).toEqual(body);
    const again = await api(path(source, sweep.id), { method: "DELETE", headers: bearer(merchant.api_key) });
    expect(again.status).toBe(200);
    expect(await again.json()).toEqual(body);
    const active = (await (await api(path(source), { headers: bearer(merchant.api_key) })).json()) as { data: SweepResponse[] };
    expect(active.data.map((row) => row.id)).toEqual([kept.id]);
    const gone = (await (await api(`${path(source)}?status=deleted`, { headers: bearer(merchant.api_key) })).json()) as { data: SweepResponse[] };
    expect(gone.data.map((row) => row.id)).toEqual([sweep.id]);
  });
});
