/** Events (API §14) as the API shows them: the event, its delivery, the list's query. */
import { z } from "@hono/zod-openapi";
import { eventTypes } from "../events/event-row";
import { idSchema, paginationQuery, timestampSchema } from "./common";
import { merchantIdSchema } from "./merchants";
import { paymentSchema } from "./payments";
import { payoutSchema } from "./payouts";
import { balanceAccountSchema, transferSchema } from "./transfers";
import { sweepSchema } from "./sweeps";

export const eventIdSchema = idSchema("evt", "evt_5f2c9a0e3b7d4e1f8a6c2b90");

export const eventIdParams = z.object({ id: eventIdSchema.openapi({ param: { name: "id", in: "path" } }) });

export const eventTypeSchema = z.enum(eventTypes).openapi({
  description:
    "What happened. Emitted today: `payment.credited`, `payment.quarantined` (the platform's: the operator sees it, no merchant does), " +
    "`payment.reversed`, `payment.returned` (quarantined money sent back to its sender: the platform's), `payout.completed`, `payout.failed`, " +
    "`transfer.completed` (one event per owner of the transfer's two accounts: each merchant concerned gets its own, and a platform account gives the " +
    "platform's, seen by the operator only), `balance_account.balance.updated` (every change of a balance account's available or reserved, in the write " +
    "that changes it: a transfer, a cash-in, a payout reserved, settled or returned, a reversal; cash-ins are written in groups, so one event per merchant " +
    "per group rather than one per cash-in; a reserve's events are its merchant's, the platform account's the platform's; " +
    "its BalanceAccount's `updated_at` never decreases from one event of an account to the next, but two events may carry the same `updated_at`, " +
    "and deliveries may arrive in any order: to know an account's latest balance, `GET /v1/balance-accounts/{id}` rather than ordering events). " +
    "`reserve_account.threshold_reached` (a fixed reserve policy's target reached, once per policy version: by the merchant payout whose withholding reaches it, or by the POST of the reserve policy itself when the reserve already holds the new version's amount). `balance_account.sweep.completed` and `balance_account.sweep.failed` (a sweep's daily run: its owner's, or the platform's for a platform sweep). " +
    "The others are emitted once the features they describe exist.",
  example: "payment.credited",
});

export const eventListQuery = paginationQuery.extend({
  type: eventTypeSchema.optional().openapi({ description: "Only events of this type." }),
  merchant_id: merchantIdSchema.optional().openapi({
    description: "Only this merchant's events (for the operator). A merchant key lists only its own events whatever this says: another merchant's id gives an empty page.",
  }),
});

export const deliverySchema = z
  .object({
    status: z.enum(["pending", "delivered", "failed"]).openapi({
      description: "pending: an attempt is due or under way; delivered: the endpoint answered 2xx; failed: the retry schedule ran out (see redeliver).",
    }),
    attempts: z.number().int().openapi({ description: "Every attempt made, redeliveries included.", example: 1 }),
    last_attempt_at: timestampSchema.nullable(),
    last_status_code: z.number().int().nullable().openapi({ description: "The endpoint's HTTP status on the last attempt; null if none yet, or if it gave no answer (timeout, refused).", example: 200 }),
    next_attempt_at: timestampSchema.nullable().openapi({ description: "When the next attempt is due; null unless pending." }),
  })
  .openapi("EventDelivery", { description: "Delivery of the event to the merchant's webhook_url." });

export const eventObjectSchema = z.union([paymentSchema, payoutSchema, transferSchema, balanceAccountSchema, sweepSchema]).openapi({
  description:
    "The object as `GET` showed it when the event happened: a snapshot, written in the same atomic write as the effect, so an event never announces what `GET` cannot show yet. " +
    "A later `GET` of the object may show a later state. A `payment.*` event carries a Payment, a `payout.*` event a Payout, `transfer.completed` a " +
    "Transfer, `balance_account.balance.updated` a BalanceAccount, `reserve_account.threshold_reached` the reserve's BalanceAccount, " +
    "a `balance_account.sweep.*` event the Sweep with the run it reports as `last_run` (one event per run and outcome).",
});

export type EventObject = z.infer<typeof eventObjectSchema>;

const eventFields = {
  id: eventIdSchema,
  object: z.literal("event"),
  type: eventTypeSchema,
  created_at: timestampSchema.openapi({ description: "When the effect it describes was written." }),
  data: z.object({
    object: eventObjectSchema,
    transfer: transferSchema.nullable().optional().openapi({
      description: "`balance_account.sweep.*` only: the transfer the run made (`completed`), as GET /v1/transfers/{id} shows it; null when it made none (`failed`).",
    }),
  }),
};

const exampleEvent = {
  id: "evt_5f2c9a0e3b7d4e1f8a6c2b90",
  object: "event",
  type: "payment.credited",
  created_at: "2026-11-21T12:00:00.120Z",
  data: {
    object: {
      id: "pay_6f1c0e7f2a7b4c1d9e8f7a6b5c4d3e2f",
      status: "credited",
      amount: 150000,
      currency: "ARS",
      customer_id: "cus_0mhx2k3p1a8bcdefghjkmnpq",
      merchant_id: "mer_0mhx2k3p1a8bcdefghjkmnpq",
      bank_transaction_id: "bt_20261121_000123",
      sender: { cuit: "20123456786", name: "María González", cbu: "0110599520000001234569" },
      concepto: "pago VA-7K4M-9QX3",
      matched_by: "customer_reference",
      virtual_account_id: null,
      quarantine_reason: null,
      created_at: "2026-11-21T12:00:00.000Z",
    },
  },
} as const;

/** As listed, and as a webhook's body carries it. */
export const eventSchema = z
  .object(eventFields)
  .openapi("Event", { description: "Something that happened, as a webhook's body carries it.", example: exampleEvent });

export const eventWithDeliverySchema = z
  .object({
    ...eventFields,
    delivery: deliverySchema.nullable().openapi({
      description:
        "null when the event is delivered to nobody: the platform's events, and a merchant's event that happened while the merchant had no webhook_url (unless redelivered since).",
    }),
  })
  .openapi("EventWithDelivery", {
    example: {
      ...exampleEvent,
      delivery: { status: "pending", attempts: 2, last_attempt_at: "2026-11-21T12:01:05.300Z", last_status_code: 503, next_attempt_at: "2026-11-21T12:05:12.000Z" },
    },
  });
