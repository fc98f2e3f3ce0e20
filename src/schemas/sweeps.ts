/** Sweeps (API §12) as requests and responses: one schema validates, types and documents each. */
import { z } from "@hono/zod-openapi";
import { limits } from "../limits";
import { scheduleTimePattern, sweepTimeZone } from "../sweeps/schedule";
import { sweepLimits } from "../sweeps/limits";
import { idSchema, paginationQuery, timestampSchema } from "./common";
import { balanceAccountIdSchema } from "./transfers";

export const sweepIdSchema = idSchema("sw", "sw_0mhx2k3p1a8bcdefghjkmnpq");

export const sweepAccountParams = z.object({ id: balanceAccountIdSchema.openapi({ param: { name: "id", in: "path" }, description: "The sweep's source balance account." }) });
export const sweepParams = sweepAccountParams.extend({ sweep_id: sweepIdSchema.openapi({ param: { name: "sweep_id", in: "path" } }) });

const scheduleSchema = z
  .object({
    type: z.literal("daily").openapi({ description: "Once a day: the only schedule." }),
    time: z.string().regex(scheduleTimePattern, "must be HH:MM, 00:00 to 23:59").openapi({ description: `Buenos Aires time (${sweepTimeZone}, UTC−3).`, example: "22:00" }),
  })
  .strict();

const sweepTypeSchema = z.enum(["push", "pull"]).openapi({
  description:
    "Who initiates each run's transfer; the money always goes from this balance account to `target_balance_account`. " +
    "`push`: this account sends its excess (the transfer's `metadata.initiated_by` is this account); `pull`: the target draws it (`metadata.initiated_by` is the target).",
});

export const createSweepRequest = z
  .object({
    schedule: scheduleSchema,
    target_balance_account: balanceAccountIdSchema.openapi({ description: "Where the excess goes: an existing balance account of the same currency, not this one." }),
    sweep_type: sweepTypeSchema,
    trigger: z.literal("balance_exceeds").openapi({ description: "Run when `available` exceeds `trigger_amount`: the only trigger." }),
    trigger_amount: z
      .number({ error: "must be a non-negative integer number of minor units" })
      .int("must be a non-negative integer number of minor units")
      .min(0, "must be at least 0")
      .max(limits.amount_max, `must be at most ${limits.amount_max}`)
      .openapi({ description: "Minor units left in the account after a run: each run moves `available − trigger_amount` when positive.", example: 0 }),
  })
  .strict()
  .openapi("CreateSweepRequest");

export const sweepRunSchema = z
  .object({
    id: z.string().openapi({ description: "`swr_…`: one per sweep and business day.", example: "swr_0mhx2k3p1a8bcdefghjkmnpq_20261121" }),
    business_day: z.string().openapi({ description: "The Buenos Aires day (YYYY-MM-DD) whose occurrence this run is.", example: "2026-11-21" }),
    status: z.enum(["pending", "completed", "failed", "skipped"]).openapi({
      description:
        "`pending`: claimed, its transfer under way (a run interrupted by a crash is finished by a later tick); `completed`: the transfer was made; " +
        "`failed`: it was not (`failure_reason`; not retried that day); `skipped`: nothing to move (`available` ≤ `trigger_amount`): no transfer, no event.",
    }),
    amount: z.number().int().openapi({ description: "What the run moves (0 when skipped)." }),
    available_amount: z.number().int().openapi({ description: "The source's `available` when the run was claimed." }),
    transfer_id: z.string().nullable().openapi({ description: "`tr_sweep_<sweep>_<yyyymmdd>`, deterministic; null when skipped.", example: "tr_sweep_0mhx2k3p1a8bcdefghjkmnpq_20261121" }),
    failure_reason: z.string().nullable().openapi({ description: "`insufficient_funds` when money left the source between the read and the transfer.", example: null }),
    created_at: timestampSchema,
    finished_at: timestampSchema.nullable(),
  })
  .openapi("SweepRun");

export const sweepSchema = z
  .object({
    id: sweepIdSchema,
    object: z.literal("sweep"),
    balance_account_id: balanceAccountIdSchema.openapi({ description: "The source: the balance account the sweep belongs to." }),
    target_balance_account: balanceAccountIdSchema,
    currency: z.string().openapi({ description: "Both accounts' currency.", example: "ARS" }),
    schedule: z.object({ type: z.literal("daily"), time: z.string().openapi({ example: "22:00" }), time_zone: z.literal(sweepTimeZone) }),
    sweep_type: sweepTypeSchema,
    trigger: z.literal("balance_exceeds"),
    trigger_amount: z.number().int(),
    status: z.enum(["active", "deleted"]).openapi({ description: "`deleted`: DELETE stopped it; it never runs again and stays readable (its runs, transfers and events name it)." }),
    last_run: sweepRunSchema.nullable().openapi({ description: "The run of the latest business day, if any." }),
    created_at: timestampSchema,
    updated_at: timestampSchema,
    deleted_at: timestampSchema.nullable(),
  })
  .openapi("Sweep", {
    description:
      `Moves this balance account's excess over \`trigger_amount\` to \`target_balance_account\` once a day, at \`schedule.time\` in Buenos Aires. ` +
      "The cron (every 5 minutes) runs each sweep at most once per Buenos Aires business day, at its first tick at or after that time: a late tick runs it late " +
      "(after midnight too: a 23:58 sweep run at 00:00 belongs to the day before); an occurrence no tick reached before the next occurrence came is not made up " +
      "(the next run moves the whole excess anyway). The first run is the first occurrence after creation. Each run is an internal transfer (kind `sweep`), " +
      "announced by `balance_account.sweep.completed` or `balance_account.sweep.failed` (`insufficient_funds`: money left the account between the read and the " +
      "transfer; the run is not retried that day). A run with nothing to move is `skipped`: no transfer, no event.",
  });

export const sweepListQuery = paginationQuery.extend({
  status: z.enum(["active", "deleted"]).default("active").openapi({ description: "`active` (the default) or `deleted` sweeps." }),
});

export const sweepLimitsText = `At most ${sweepLimits.active_per_balance_account_max} active sweeps per balance account (422 invalid_state beyond).`;

