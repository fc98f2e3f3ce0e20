/**
 * Incoming payment details (API §11): written only by the triggers of migrations/0012, in the
 * same write as their payment; read here.
 */
import { and, desc, eq } from "drizzle-orm";
import type { Caller } from "../context";
import type { Db } from "../db/client";
import { incomingPaymentDetails, type IncomingPaymentDetailRow } from "../db/schema";
import { ApiError } from "../errors";
import { afterCursor, type Cursor } from "../pagination";

function owned(caller: Caller) {
  return caller.kind === "merchant" ? eq(incomingPaymentDetails.merchant_id, caller.merchantId) : undefined;
}

/** The detail if the caller may read it (its own; the operator: any), else 404 as if absent. */
export async function findIncomingPaymentDetail(db: Db, caller: Caller, id: string): Promise<IncomingPaymentDetailRow> {
  const row = await db.select().from(incomingPaymentDetails).where(and(eq(incomingPaymentDetails.id, id), owned(caller))).get();
  if (!row) throw new ApiError("not_found", `No such incoming payment detail: ${id}.`);
  return row;
}

/** A page of the caller's details (the operator: everyone's), newest first; `limit + 1` rows. */
export async function listIncomingPaymentDetails(
  db: Db,
  caller: Caller,
  options: { virtual_account_id?: string | undefined; limit: number; cursor: Cursor | null },
): Promise<IncomingPaymentDetailRow[]> {
  return db
    .select()
    .from(incomingPaymentDetails)
    .where(
      and(
        owned(caller),
        options.virtual_account_id === undefined ? undefined : eq(incomingPaymentDetails.virtual_account_id, options.virtual_account_id),
        afterCursor(incomingPaymentDetails.created_at, incomingPaymentDetails.id, options.cursor),
      ),
    )
    .orderBy(desc(incomingPaymentDetails.created_at), desc(incomingPaymentDetails.id))
    .limit(options.limit + 1);
}
