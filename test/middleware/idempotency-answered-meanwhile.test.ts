/**
 * A request whose key another attempt answered while it ran (the other attempt took the claim
 * over after this one's lock expired, and completed it, e.g. with the 201 of the payout it
 * made). If this request then refuses (4xx), the middleware's store changes no row, and the
 * request must answer what the key stored: a client told "nothing moved" while the key says
 * 201 may pay again under a new key. Driven on a bare app with the real middleware: the
 * handler completes the key itself (the other attempt), then answers.
 */
import { env } from "cloudflare:workers";
import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import type { AppEnv } from "../../src/context";
import { idempotency } from "../../src/middleware/idempotency";
import { uniqueId } from "../money";

const storedByTheOther = JSON.stringify({ id: "po_same", object: "payout", status: "pending" });
/**
 * This attempt's 201: under the same claim it reached the same resource (the same derived id),
 * which may have moved on since the other attempt described it. A 201 for ANOTHER resource
 * under one claim cannot happen (every handler derives its ids from the claim; a customer
 * payout's 201 is stored in the very batch that writes it, whoever writes it), so no case
 * here pretends it can.
 */
const mine = { id: "po_same", object: "payout", status: "submitted" };

/** An app whose POST /probe answers `status`, after completing its own key with a 201 if `otherAnswersFirst`. */
function probeApp(status: 201 | 422, otherAnswersFirst: boolean) {
  const app = new Hono<AppEnv>();
  app.use(async (c, next) => {
    c.set("caller", { kind: "operator" } as AppEnv["Variables"]["caller"]);
    await next();
  });
  app.use(idempotency);
  app.post("/probe", async (c) => {
    const claim = c.get("idempotency")!;
    if (otherAnswersFirst) {
      await env.DB.prepare("UPDATE idempotency_keys SET state = 'completed', response_status = 201, response_body = ? WHERE caller = ? AND key = ? AND claim_id = ?")
        .bind(storedByTheOther, claim.scope, claim.key, claim.claim_id)
        .run();
    }
    return status === 201 ? c.json(mine, 201) : c.json({ code: "insufficient_funds" }, 422);
  });
  return app;
}

async function send(app: Hono<AppEnv>, key: string) {
  const response = await app.request("/probe", { method: "POST", headers: { "idempotency-key": key, "content-type": "application/json" }, body: "{}" }, env);
  return { status: response.status, replayed: response.headers.get("idempotent-replayed"), body: await response.text() };
}

async function stored(key: string) {
  return env.DB.prepare("SELECT state, response_status, response_body FROM idempotency_keys WHERE caller = 'operator' AND key = ?").bind(key).first();
}

describe("a refusal whose key was answered meanwhile", () => {
  it("answers the key's stored 201 (replayed), not its own 422, and leaves the record as the other attempt stored it", async () => {
    const key = uniqueId("idem");
    expect(await send(probeApp(422, true), key)).toEqual({ status: 201, replayed: "true", body: storedByTheOther });
    expect(await stored(key)).toEqual({ state: "completed", response_status: 201, response_body: storedByTheOther });
  });

  it("a refusal whose key is still in flight is stored and answered as before", async () => {
    const key = uniqueId("idem");
    const first = await send(probeApp(422, false), key);
    expect(first).toMatchObject({ status: 422, replayed: null });
    expect(await stored(key)).toEqual({ state: "completed", response_status: 422, response_body: first.body });
  });

  it("a 201 stands even if the key was answered meanwhile: the same claim reached the same resource, only its state moved on", async () => {
    const key = uniqueId("idem");
    expect(await send(probeApp(201, true), key)).toEqual({ status: 201, replayed: null, body: JSON.stringify(mine) });
    expect(await stored(key)).toMatchObject({ response_body: storedByTheOther });
  });
});
