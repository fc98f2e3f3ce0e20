import type { OpenAPIHono } from "@hono/zod-openapi";
import type { AppEnv } from "../context";
import { adminRouter } from "./admin";
import { balanceAccountsRouter } from "./balance-accounts";
import { bankEventsRouter } from "./bank-events";
import { customersRouter } from "./customers";
import { eventsRouter } from "./events";
import { ledgerRouter } from "./ledger";
import { merchantLedgerRouter } from "./merchant-ledger";
import { merchantSettingsRouter } from "./merchant-settings";
import { merchantListRouter } from "./merchant-list";
import { merchantsRouter } from "./merchants";
import { paymentsRouter } from "./payments";
import { pricingRouter } from "./pricing";
import { payoutsRouter } from "./payouts";
import { quarantineRouter } from "./quarantine";
import { reconciliationsRouter } from "./reconciliations";
import { reservesRouter } from "./reserves";
import { sandboxRouter } from "./sandbox";
import { transfersRouter } from "./transfers";
import { sweepsRouter } from "./sweeps";
import { virtualAccountsRouter } from "./virtual-accounts";

/** Mounts every resource's router under the app. One line per resource. */
export function registerRoutes(app: OpenAPIHono<AppEnv>) {
  return app
    .route("/", merchantsRouter)
    .route("/", merchantSettingsRouter)
    .route("/", merchantListRouter)
    .route("/", customersRouter)
    .route("/", paymentsRouter)
    .route("/", payoutsRouter)
    .route("/", bankEventsRouter)
    .route("/", ledgerRouter)
    .route("/", merchantLedgerRouter)
    .route("/", adminRouter)
    .route("/", reconciliationsRouter)
    .route("/", quarantineRouter)
    .route("/", sandboxRouter)
    .route("/", eventsRouter)
    .route("/", virtualAccountsRouter)
    .route("/", balanceAccountsRouter)
    .route("/", transfersRouter)
    .route("/", sweepsRouter)
    .route("/", reservesRouter)
    .route("/", pricingRouter);
}
