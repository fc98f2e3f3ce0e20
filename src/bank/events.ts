/** The bank's webhook events (API §6): the envelope, and the data of each type. */
import { z } from "@hono/zod-openapi";
import { amountSchema, currencySchema } from "../schemas/common";
import { limits } from "../limits";

const text = (max: number) => z.string().max(max);

export const senderSchema = z
  .object({
    // Kept loose on purpose: a sender without a usable CUIT is still money we received.
    cuit: text(32).nullable().optional(),
    name: text(limits.name_length_max).nullable().optional(),
    cbu: text(32).nullable().optional(),
  })
  .strict();

export const transferReceivedSchema = z
  .object({
    bank_transaction_id: z.string().min(1).max(100),
    amount: amountSchema,
    currency: currencySchema,
    sender: senderSchema,
    destination: z.object({ account_number: text(32).nullable().optional() }).strict().optional(),
    concepto: text(limits.concepto_length_max).nullable().optional(),
    booked_at: z.iso.datetime({ offset: true }),
  })
  .strict();

export const transferReversedSchema = z
  .object({ bank_transaction_id: z.string().min(1).max(100), reversal_id: z.string().min(1).max(100), reason: text(500) })
  .strict();

export const payoutCompletedSchema = z
  .object({ payout_id: z.string().min(1).max(100), bank_transaction_id: z.string().min(1).max(100) })
  .strict();

export const payoutFailedSchema = z
  .object({ payout_id: z.string().min(1).max(100), permanent: z.boolean(), reason: text(500) })
  .strict();

export const bankEventTypes = ["transfer.received", "transfer.reversed", "payout.completed", "payout.failed"] as const;
export type BankEventType = (typeof bankEventTypes)[number];

export const bankEventSchema = z
  .object({
    id: z.string().min(1).max(100),
    type: z.string().max(64),
    created_at: z.string().max(64),
    data: z.record(z.string(), z.unknown()),
  })
  .strict()
  .openapi("BankEvent", {
    example: {
      id: "evt_bank_0001",
      type: "transfer.received",
      created_at: "2026-11-21T12:00:00Z",
      data: {
        bank_transaction_id: "bt_0001",
        amount: 150000,
        currency: "ARS",
        sender: { cuit: "20267565393", name: "Juan Perez", cbu: "2850590940090418135201" },
        destination: { account_number: "2850590940090418135201" },
        concepto: "alquiler CR-7K4M-9QX2",
        booked_at: "2026-11-21T12:00:00Z",
      },
    },
  });

export type BankEvent = z.infer<typeof bankEventSchema>;
export type TransferReceived = z.infer<typeof transferReceivedSchema>;
