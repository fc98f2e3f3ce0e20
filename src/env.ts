import { z } from "zod";
import { isValidCbu } from "./domain/cbu";
import type { PayoutMessage } from "./jobs/payout-queue";
import type { ReconciliationMessage } from "./reconciliation/driver";
import type { WebhookMessage } from "./webhooks/message";
import { minimumProductionRetryBaseMs, minimumRetryWindowMs, roundFloorMs } from "./webhooks/schedule";

/**
 * The bindings and variables the Worker runs with. Their names and kinds are generated from
 * wrangler.toml (and the secrets listed in .dev.vars.example) by `npm run types` into
 * worker-configuration.d.ts, which `npm test` checks is current (`wrangler types --check`).
 * Here we narrow what generation cannot know: the queues' message types, and that variables
 * and secrets may be missing from a deployment (loadConfig's zod check names them).
 */
/** Names we narrow below; each must be a generated binding (a renamed one fails to compile). */
type MustBeBindings<Names extends keyof Cloudflare.Env> = Names;
type Narrowed = MustBeBindings<
  | "PAYOUT_QUEUE"
  | "RECONCILIATION_QUEUE"
  | "WEBHOOK_QUEUE"
  | "API_RATE_LIMITER"
  | "SANDBOX"
  | "SETTLEMENT_CBU"
  | "CURRENCIES"
  | "ADMIN_API_KEY"
  | "BANK_WEBHOOK_SECRET"
  | "WEBHOOK_SECRET_KEY"
  | "WEBHOOK_RETRY_BASE_MS"
  | "CVU_PSP_CODE"
>;

export interface Env extends Omit<Cloudflare.Env, Narrowed> {
  PAYOUT_QUEUE: Queue<PayoutMessage>;
  RECONCILIATION_QUEUE: Queue<ReconciliationMessage>;
  WEBHOOK_QUEUE: Queue<WebhookMessage>;
  /** Optional: without it (a deployment that has none) nothing is limited. */
  API_RATE_LIMITER?: RateLimit;
  SANDBOX?: string;
  SETTLEMENT_CBU?: string;
  CURRENCIES?: string;
  ADMIN_API_KEY?: string;
  BANK_WEBHOOK_SECRET?: string;
  /** Seals merchants' webhook secrets at rest (src/webhooks/secret-box.ts). */
  WEBHOOK_SECRET_KEY?: string;
  /** The first retry delay of outbound webhooks; later ones double (src/webhooks/schedule.ts). */
  WEBHOOK_RETRY_BASE_MS?: string;
  /** The platform's 4-digit PSP code: the range its virtual account numbers (CVU) are minted in. */
  CVU_PSP_CODE?: string;
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
  CVU_PSP_CODE: z.string().regex(/^[0-9]{4}$/, "must be the PSP's 4-digit code"),
})
  // API §14 promises retries for at least 3 days: outside the sandbox a base whose whole round
  // (src/webhooks/schedule.ts) is shorter is a misconfiguration (a 1 ms base gives up in
  // seconds). Checked even when another variable is bad, so that every problem is named at once.
  .superRefine(
    (env, context) => {
      if (env.SANDBOX || roundFloorMs(env.WEBHOOK_RETRY_BASE_MS) >= minimumRetryWindowMs) return;
      context.addIssue({
        code: "custom",
        path: ["WEBHOOK_RETRY_BASE_MS"],
        message: `must be at least ${minimumProductionRetryBaseMs()} when SANDBOX is not true (retries must last at least 3 days)`,
      });
    },
    { when: (payload) => baseAndSandboxParsed(payload.value) },
  );

/** The retry-window check needs both SANDBOX and the base to have parsed, whatever else failed. */
function baseAndSandboxParsed(value: unknown): boolean {
  if (typeof value !== "object" || value === null) return false;
  const { SANDBOX, WEBHOOK_RETRY_BASE_MS } = value as Record<string, unknown>;
  return typeof SANDBOX === "boolean" && typeof WEBHOOK_RETRY_BASE_MS === "number" && Number.isInteger(WEBHOOK_RETRY_BASE_MS) && WEBHOOK_RETRY_BASE_MS >= 1;
}

export interface Config {
  sandbox: boolean;
  settlementCbu: string;
  currencies: readonly string[];
  adminApiKey: string;
  bankWebhookSecret: string;
  webhookSecretKey: string;
  webhookRetryBaseMs: number;
  cvuPspCode: string;
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
    cvuPspCode: parsed.data.CVU_PSP_CODE,
  };
  cache.set(env, config);
  return config;
}
