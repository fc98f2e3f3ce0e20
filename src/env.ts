import { z } from "zod";
import { isValidCbu } from "./domain/cbu";
import type { CustomerAccount } from "./accounts/customer-account";
import type { SandboxBank } from "./bank/sandbox-bank";
import type { PayoutMessage } from "./jobs/payout-queue";
import type { ReconciliationMessage } from "./reconciliation/driver";
import type { WebhookMessage } from "./webhooks/message";

/** The bindings and variables the Worker runs with (wrangler.toml, .dev.vars, secrets). */
export interface Env {
  DB: D1Database;
  CUSTOMER_ACCOUNTS: DurableObjectNamespace<CustomerAccount>;
  SANDBOX_BANK: DurableObjectNamespace<SandboxBank>;
  PAYOUT_QUEUE: Queue<PayoutMessage>;
  RECONCILIATION_QUEUE: Queue<ReconciliationMessage>;
  WEBHOOK_QUEUE: Queue<WebhookMessage>;
  /** Optional: without it (a deployment that has none) nothing is limited. */
  API_RATE_LIMITER?: RateLimit;
  /** The static files of public/ (wrangler.toml [assets]), e.g. /docs's script. */
  ASSETS: Fetcher;
  SANDBOX?: string;
  SETTLEMENT_CBU?: string;
  CURRENCIES?: string;
  ADMIN_API_KEY?: string;
  BANK_WEBHOOK_SECRET?: string;
  /** Seals merchants' webhook secrets at rest (src/webhooks/secret-box.ts). */
  WEBHOOK_SECRET_KEY?: string;
  /** The first retry delay of outbound webhooks; later ones double (src/webhooks/schedule.ts). */
  WEBHOOK_RETRY_BASE_MS?: string;
}

type WorkerBindings = Env;

declare global {
  namespace Cloudflare {
    // Lets `import { env, exports } from "cloudflare:workers"` see our bindings and entry point.
    interface Env extends WorkerBindings {}
    interface GlobalProps {
      mainModule: typeof import("./index");
      durableNamespaces: "CustomerAccount" | "SandboxBank";
    }
  }
}

const currencyCode = z.string().regex(/^[A-Z]{3}$/, "must be ISO 4217 codes, comma-separated");

/** Configuration after validation: a Worker with a bad one refuses to serve. */
const configSchema = z.object({
  SANDBOX: z.enum(["true", "false"]).default("false").transform((value) => value === "true"),
  SETTLEMENT_CBU: z.string().refine(isValidCbu, "must be a valid 22-digit CBU"),
  CURRENCIES: z
    .string()
    .default("ARS")
    .transform((value) => value.split(",").map((code) => code.trim().toUpperCase()).filter(Boolean))
    .pipe(z.array(currencyCode).min(1, "must list at least one currency")),
  ADMIN_API_KEY: z.string().min(24, "must be at least 24 characters"),
  BANK_WEBHOOK_SECRET: z.string().min(16, "must be at least 16 characters"),
  WEBHOOK_SECRET_KEY: z.string().min(32, "must be at least 32 characters"),
  WEBHOOK_RETRY_BASE_MS: z
    .string()
    .default("60000")
    .pipe(z.coerce.number<string>().int("must be a whole number of milliseconds").min(1, "must be at least 1").max(3_600_000, "must be at most 3600000 (an hour)")),
});

export interface Config {
  sandbox: boolean;
  settlementCbu: string;
  currencies: readonly string[];
  adminApiKey: string;
  bankWebhookSecret: string;
  webhookSecretKey: string;
  webhookRetryBaseMs: number;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration: ${problems.join("; ")}`);
  }
}

const cache = new WeakMap<object, Config>();

/** Validates the environment once per isolate; throws ConfigError naming every bad variable. */
export function loadConfig(env: Env): Config {
  const cached = cache.get(env);
  if (cached) return cached;
  const parsed = configSchema.safeParse(env);
  if (!parsed.success) {
    // Names only, never values: the values are secrets.
    throw new ConfigError(parsed.error.issues.map((issue) => `${issue.path.join(".")} ${issue.message}`));
  }
  const config: Config = {
    sandbox: parsed.data.SANDBOX,
    settlementCbu: parsed.data.SETTLEMENT_CBU,
    currencies: parsed.data.CURRENCIES,
    adminApiKey: parsed.data.ADMIN_API_KEY,
    bankWebhookSecret: parsed.data.BANK_WEBHOOK_SECRET,
    webhookSecretKey: parsed.data.WEBHOOK_SECRET_KEY,
    webhookRetryBaseMs: parsed.data.WEBHOOK_RETRY_BASE_MS,
  };
  cache.set(env, config);
  return config;
}
