/**
 * Customers (API §4), seen by a merchant: only those linked to it, and a customer that is not
 * linked answers 404 exactly like one that does not exist. CUITs are public, so a link made
 * by registering a CUIT proves nothing: until the customer has a payment or payout with the
 * merchant, it sees no CBU it did not supply itself and no balance. Which other merchants the
 * customer uses is never shown (`last_merchant_id` is the caller or null).
 */
import { createRoute } from "@hono/zod-openapi";
import type { Context } from "hono";
import { assert } from "../assert";
import type { AppEnv } from "../context";
import { newRouter } from "../context";
import { findLinkedCustomer, findLinkFacts, findOrCreateCustomer, linkCustomer, listLinkedCustomers, type LinkedCustomer, type LinkFacts } from "../db/customers";
import { formatReference } from "../domain/reference-code";
import { perCustomerVirtualAccount } from "../virtual-accounts/reads";
import { ApiError } from "../errors";
import { enabledCurrency, readCustomerBalance } from "../ledger/balances";
import { merchantIdOf, requireMerchant } from "../middleware/auth";
import { decodeCursor, toPage } from "../pagination";
import { bodyProblemStatuses, jsonBody, jsonResponse, listSchema, problemResponses, rfc3339 } from "../schemas/common";
import {
  createCustomerRequest,
  customerBalanceSchema,
  customerIdParams,
  customerSchema,
  depositDetailsQuery,
  depositDetailsSchema,
  listCustomersQuery,
} from "../schemas/customers";
import { balanceQuery, balanceView } from "../schemas/merchants";

const merchantOnly = { tags: ["Customers"], security: [{ merchantKey: [] }], middleware: [requireMerchant] };

/** The customer as `merchantId` may see it; every route that shows a customer to a merchant renders it here. */
function customerView(customer: LinkedCustomer, merchantId: string) {
  const knowsCbu = customer.transacted || (customer.cbu !== null && customer.supplied_cbu === customer.cbu);
  return {
    id: customer.id,
    cuit: customer.cuit,
    name: customer.name,
    cbu: knowsCbu ? customer.cbu : null,
    last_merchant_id: customer.last_merchant_id === merchantId ? merchantId : null,
    origin: customer.origin,
    created_at: rfc3339(customer.created_at),
  };
}

/** The customer as the calling merchant sees it, or 404. */
async function visibleCustomer(c: Context<AppEnv>, customerId: string): Promise<LinkedCustomer> {
  const customer = await findLinkedCustomer(c.env.DB, customerId, merchantIdOf(c.get("caller")));
  if (!customer) throw new ApiError("not_found", `No such customer: ${customerId}.`);
  return customer;
}

/**
 * What never changes about the customer the calling merchant sees, or 404: served from this
 * isolate's memory once known (db/customers.ts findLinkFacts), so a balance read, once the
 * pair has transacted, costs no D1 read.
 */
async function visibleLink(c: Context<AppEnv>, customerId: string, needs: "link" | "transacted"): Promise<LinkFacts> {
  const customer = await findLinkFacts(c.env.DB, customerId, merchantIdOf(c.get("caller")), needs);
  if (!customer) throw new ApiError("not_found", `No such customer: ${customerId}.`);
  return customer;
}

const createCustomer = createRoute({
  method: "post",
  path: "/v1/customers",
  operationId: "createCustomer",
  ...merchantOnly,
  summary: "Register a customer",
  description:
    "Registers a customer by CUIT and links it to the calling merchant. `201` when the CUIT was new; `200` with " +
    "the existing customer, unchanged (the request's `name` and `cbu` never replace the ones on file), when it was " +
    "already known to the platform — the caller is then linked to it. A CUIT is public, so registering one proves " +
    "nothing: until the customer has a payment or payout with the caller, the answer (and every later read) shows " +
    "`cbu: null` unless the caller supplied that same CBU, and the customer's balance answers 404.",
  request: { body: jsonBody(createCustomerRequest) },
  responses: {
    201: jsonResponse(customerSchema, "A new customer."),
    200: jsonResponse(customerSchema, "The existing customer with this CUIT, now linked to the caller."),
    ...problemResponses(403, 409, 422, ...bodyProblemStatuses),
  },
});

const getCustomer = createRoute({
  method: "get",
  path: "/v1/customers/{id}",
  operationId: "getCustomer",
  ...merchantOnly,
  summary: "Retrieve a customer",
  description:
    "`cbu` is null to a caller that has not transacted with the customer (no payment or payout with it) and did " +
    "not supply that CBU when registering it; `last_merchant_id` is the caller or null, never another merchant.",
  request: { params: customerIdParams },
  responses: { 200: jsonResponse(customerSchema, "The customer."), ...problemResponses(403, 404) },
});

const listCustomers = createRoute({
  method: "get",
  path: "/v1/customers",
  operationId: "listCustomers",
  ...merchantOnly,
  summary: "List customers",
  description: "The customers linked to the caller, most recently linked first; `cuit` narrows it to one.",
  request: { query: listCustomersQuery },
  responses: { 200: jsonResponse(listSchema(customerSchema, "CustomerList"), "A page of customers."), ...problemResponses(403) },
});

const getDepositDetails = createRoute({
  method: "get",
  path: "/v1/customers/{id}/deposit-details",
  operationId: "getCustomerDepositDetails",
  ...merchantOnly,
  summary: "How the customer pays in",
  description:
    "The settlement CBU to transfer to and this customer's reference for the calling merchant: each merchant " +
    "linked to a customer gets its own reference, so money is credited through the merchant that issued it.",
  request: { params: customerIdParams, query: depositDetailsQuery },
  responses: { 200: jsonResponse(depositDetailsSchema, "Deposit details."), ...problemResponses(403, 404) },
});

const getCustomerBalance = createRoute({
  method: "get",
  path: "/v1/customers/{id}/balance",
  operationId: "getCustomerBalance",
  ...merchantOnly,
  summary: "Retrieve a customer's balance",
  description:
    "The customer's platform-wide balance, whatever merchant moved it; shown only once the customer has a payment " +
    "or payout with the caller. A customer the caller only registered by CUIT answers 404, like one that does not exist.",
  request: { params: customerIdParams, query: balanceQuery },
  responses: { 200: jsonResponse(customerBalanceSchema, "The balance."), ...problemResponses(403, 404) },
});

export const customersRouter = newRouter()
  .openapi(createCustomer, async (c) => {
    const body = c.req.valid("json");
    const d1 = c.env.DB;
    const { customer, created } = await findOrCreateCustomer(
      d1,
      { cuit: body.cuit, name: body.name, cbu: body.cbu ?? null, origin: "api" },
      c.get("config").currencies,
    );
    const merchantId = merchantIdOf(c.get("caller"));
    // A CBU supplied for a customer already on file counts only if it is that customer's: it
    // shows the caller knew it. Another one is ignored, like the name.
    const knownCbu = body.cbu != null && body.cbu === customer.cbu ? body.cbu : null;
    await linkCustomer(d1, customer.id, merchantId, knownCbu);
    const linked = await findLinkedCustomer(d1, customer.id, merchantId);
    assert(linked !== null, `customer ${customer.id} is linked to ${merchantId} right after linkCustomer`);
    return c.json(customerView(linked, merchantId), created ? 201 : 200);
  })
  .openapi(getCustomer, async (c) => {
    const customer = await visibleCustomer(c, c.req.valid("param").id);
    return c.json(customerView(customer, merchantIdOf(c.get("caller"))), 200);
  })
  .openapi(listCustomers, async (c) => {
    const query = c.req.valid("query");
    const merchantId = merchantIdOf(c.get("caller"));
    const rows = await listLinkedCustomers(c.env.DB, merchantId, {
      cuit: query.cuit,
      limit: query.limit,
      cursor: decodeCursor(query.cursor),
    });
    return c.json(toPage(rows, query.limit, (row) => customerView(row.customer, merchantId)), 200);
  })
  .openapi(getDepositDetails, async (c) => {
    const customer = await visibleLink(c, c.req.valid("param").id, "link");
    const currency = enabledCurrency(c.get("config").currencies, c.req.valid("query").currency);
    const cbu = c.get("config").settlementCbu;
    const reference = formatReference(customer.reference);
    const account = await perCustomerVirtualAccount(c.env.DB, customer.id, merchantIdOf(c.get("caller")), currency);
    return c.json(
      {
        customer_id: customer.id,
        currency,
        cbu,
        reference,
        virtual_account: account,
        // With its own account number, the payer's destination is the identity: no memo needed.
        instructions: account
          ? `Transfer ${currency} to CVU ${account.account_number}; no reference is needed.`
          : `Transfer ${currency} to CBU ${cbu} and write ${reference} in the description (concepto).`,
      },
      200,
    );
  })
  .openapi(getCustomerBalance, async (c) => {
    const customer = await visibleLink(c, c.req.valid("param").id, "transacted");
    if (!customer.transacted) throw new ApiError("not_found", `No such customer: ${customer.id}.`);
    const currency = enabledCurrency(c.get("config").currencies, c.req.valid("query").currency);
    const balance = await readCustomerBalance(c.env, customer.id, currency);
    return c.json({ customer_id: customer.id, ...balanceView(balance) }, 200);
  });
