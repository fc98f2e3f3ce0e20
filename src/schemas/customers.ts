import { z } from "@hono/zod-openapi";
import { normalizeCbu } from "../domain/cbu";
import { normalizeCuit } from "../domain/cuit";
import { currencySchema, idSchema, paginationQuery, timestampSchema } from "./common";
import { balanceFields, merchantIdSchema, nameSchema } from "./merchants";

const cuitMessage = "must be a CUIT: 11 digits (dashes allowed) with a valid check digit";
const cbuMessage = "must be a CBU: 22 digits (dashes allowed) with both check digits valid";

/** A string that `normalize` accepts, yielding its normalized form; anything else fails with `message`. */
function normalizedString(normalize: (input: string) => string | null, maxLength: number, message: string) {
  return z
    .string({ error: message })
    .max(maxLength, message)
    .transform((value, context) => {
      const normalized = normalize(value);
      if (normalized === null) {
        context.addIssue({ code: "custom", message });
        return z.NEVER;
      }
      return normalized;
    });
}

/** Accepts `20-12345678-6` or `20123456786`; yields the 11 bare digits. */
export const cuitInput = normalizedString(normalizeCuit, 20, cuitMessage).openapi({
  description: "CUIT/CUIL: 11 digits, dashes allowed.",
  example: "20-12345678-6",
});

/** Accepts a CBU or CVU with or without dashes; yields the 22 bare digits. */
export const cbuInput = normalizedString(normalizeCbu, 40, cbuMessage).openapi({
  description: "CBU/CVU: 22 digits, dashes allowed.",
  example: "0110599520000001234569",
});

export const customerIdSchema = idSchema("cus", "cus_0mhx2k3p1a8bcdefghjkmnpq");

export const customerIdParams = z.object({
  id: customerIdSchema.openapi({ param: { name: "id", in: "path" } }),
});

export const createCustomerRequest = z
  .object({
    cuit: cuitInput,
    name: nameSchema.openapi({ description: "The customer's name, trimmed.", example: "María González" }),
    cbu: cbuInput.nullable().optional().openapi({
      description: "The customer's own bank account: where payouts go by default.",
    }),
  })
  .strict()
  .openapi("CreateCustomerRequest");

export const customerSchema = z
  .object({
    id: customerIdSchema,
    cuit: z.string().openapi({
      description: "Always rendered as the 11 bare digits, whatever form it was given in.",
      example: "20123456786",
    }),
    name: z.string().openapi({ example: "María González" }),
    cbu: z.string().nullable().openapi({
      description:
        "22 bare digits, or null: null when there is none on file, and also to a merchant that has not transacted " +
        "with the customer (no payment or payout with it yet) and did not supply this CBU itself — a CUIT is public, " +
        "so knowing one does not show the customer's account.",
      example: "0110599520000001234569",
    }),
    last_merchant_id: merchantIdSchema.nullable().openapi({
      description:
        "Indicative only: the caller's id when the customer's latest payment or payout was with the caller; null " +
        "otherwise (none yet, or another merchant's: which other merchants a customer uses is theirs alone).",
    }),
    origin: z.enum(["api", "auto"]).openapi({
      description: "`api`: registered by a merchant; `auto`: created from a transfer's sender.",
    }),
    created_at: timestampSchema,
  })
  .openapi("Customer", {
    description: "A platform-wide customer, one per CUIT, visible to the merchants it is linked to.",
  });

export const listCustomersQuery = paginationQuery.extend({
  cuit: cuitInput.optional().openapi({ param: { name: "cuit", in: "query" }, description: "Only the customer with this CUIT." }),
});

export const depositDetailsQuery = z.object({
  currency: currencySchema.optional().openapi({ param: { name: "currency", in: "query" }, description: "Defaults to ARS." }),
});

export const depositDetailsSchema = z
  .object({
    customer_id: customerIdSchema,
    currency: currencySchema,
    cbu: z.string().openapi({ description: "The platform's settlement account: where to transfer.", example: "2850590940090418135201" }),
    reference: z.string().openapi({
      description: "This customer's reference for the calling merchant (display form): the payer writes it in the concepto.",
      example: "CR-7K4M-9QXT",
    }),
    virtual_account: z
      .object({ id: idSchema("va", "va_0mhx2k3p1a8bcdefghjkmnpq"), account_number: z.string() })
      .nullable()
      .openapi({ description: "A dedicated account number, when one has been issued; null otherwise." }),
    instructions: z.string().openapi({
      example: "Transfer ARS to CBU 2850590940090418135201 and write CR-7K4M-9QXT in the description (concepto).",
    }),
  })
  .openapi("DepositDetails");

export const customerBalanceSchema = z
  .object({ customer_id: customerIdSchema, ...balanceFields })
  .openapi("CustomerBalance", {
    description: "The customer's platform-wide balance, whatever merchant moved it, shown to merchants it has transacted with.",
  });
