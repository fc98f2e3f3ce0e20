import { OpenAPIHono } from "@hono/zod-openapi";
import type { ZodError } from "zod";
import type { Config, Env } from "./env";
import { fieldPath, problem, type FieldError } from "./errors";

/** Who is calling: the platform operator, or one merchant (by one of its keys). */
export type Caller = { kind: "operator" } | { kind: "merchant"; merchantId: string; keyPrefix: string };

/**
 * The Idempotency-Key a request runs under, and which claim of it: `claim_id` is the same for
 * every retry of one request and new when the key is reused after its retention, so a handler
 * derives resource ids from both (never from the key alone).
 */
export interface IdempotencyClaim {
  /** Whose keys these are: a merchant id, or "operator". */
  scope: string;
  key: string;
  claim_id: string;
}

export type AppEnv = {
  Bindings: Env;
  Variables: {
    requestId: string;
    config: Config;
    caller: Caller;
    /** Response fields that are secrets: never stored in the idempotency log (null on replay). */
    secretFields?: string[];
    /** Set on a POST that carries an Idempotency-Key, once this request holds the key. */
    idempotency?: IdempotencyClaim;
    /**
     * Set by a handler that stored its own response in its own batch (storedResponseStatement
     * in middleware/idempotency.ts): the status it stored. The middleware then writes nothing.
     */
    idempotencyStored?: number;
  };
};

/** zod issues → the `errors[]` of a problem, one per field, named the way the client wrote it. */
export function fieldErrors(error: ZodError, prefix: ReadonlyArray<PropertyKey> = []): FieldError[] {
  return error.issues.flatMap((issue) => {
    // An unknown field is reported at the field itself, not at its parent object.
    if (issue.code === "unrecognized_keys") {
      return issue.keys.map((key) => ({
        path: fieldPath([...prefix, ...issue.path, key]),
        message: "unknown field",
      }));
    }
    return [{ path: fieldPath([...prefix, ...issue.path]) || "body", message: issue.message }];
  });
}

/**
 * Every resource router is built here so that every route shares one validation hook:
 * a request that fails its schema answers 400 invalid_request naming each bad field.
 */
export function newRouter() {
  return new OpenAPIHono<AppEnv>({
    defaultHook: (result, c) => {
      if (result.success) return;
      const errors = fieldErrors(result.error, result.target === "json" ? [] : [result.target]);
      const first = errors[0];
      return problem(c, "invalid_request", first ? `${first.path}: ${first.message}` : "Invalid request.", errors);
    },
  });
}
