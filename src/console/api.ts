/**
 * The console does nothing the API cannot: each fragment calls the Worker's own /v1 routes
 * in-process, with the Authorization header the browser sent, so the operator key is checked,
 * rate-limited and logged exactly as for curl, and the console can never do more than the key.
 */
import type { Context, ExecutionContext } from "hono";
import type { AppEnv } from "../context";
import type { Env } from "../env";

/** The app's own fetch (app.ts passes it in: the console router cannot import the app). */
export type ApiFetch = (request: Request, env: Env, ctx: ExecutionContext | undefined) => Response | Promise<Response>;

export interface Problem {
  status: number;
  code: string;
  detail: string;
  errors: { path: string; message: string }[];
}

/** The key was refused (401) or is not the operator's (403): the page says so and asks again. */
export class KeyRefused extends Error {
  constructor(
    readonly status: 401 | 403,
    readonly detail: string,
  ) {
    super(detail);
  }
}

export type ApiResult<T> = { ok: true; status: number; body: T } | { ok: false; problem: Problem };

export interface ApiCall {
  method?: "GET" | "POST";
  body?: unknown;
  idempotencyKey?: string;
}

function executionContext(c: Context<AppEnv>): ExecutionContext | undefined {
  try {
    return c.executionCtx;
  } catch {
    return undefined; // Hono throws when there is none (e.g. app.request in a unit test).
  }
}

export function apiClient(c: Context<AppEnv>, fetchApi: ApiFetch) {
  const authorization = c.req.header("authorization");
  return async function call<T>(path: string, options: ApiCall = {}): Promise<ApiResult<T>> {
    const headers = new Headers({ accept: "application/json" });
    if (authorization) headers.set("authorization", authorization);
    if (options.body !== undefined) headers.set("content-type", "application/json");
    if (options.idempotencyKey) headers.set("idempotency-key", options.idempotencyKey);
    const request = new Request(new URL(path, c.req.url), {
      method: options.method ?? "GET",
      headers,
      body: options.body === undefined ? null : JSON.stringify(options.body),
    });
    const response = await fetchApi(request, c.env, executionContext(c));
    const body = (await response.json().catch(() => null)) as Record<string, unknown> | null;
    if (response.ok) return { ok: true, status: response.status, body: body as T };
    const detail = typeof body?.detail === "string" ? body.detail : `The API answered ${response.status}.`;
    if (response.status === 401 || response.status === 403) throw new KeyRefused(response.status, detail);
    return {
      ok: false,
      problem: {
        status: response.status,
        code: typeof body?.code === "string" ? body.code : "error",
        detail,
        errors: Array.isArray(body?.errors) ? (body.errors as Problem["errors"]) : [],
      },
    };
  };
}

export type Api = ReturnType<typeof apiClient>;
