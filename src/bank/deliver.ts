/**
 * How the sandbox bank delivers its webhooks: signed exactly as a real bank would, and sent
 * through the service's own HTTP handler (in-process), so signature checks and all.
 */
import type { Env } from "../env";
import { signatureHeader } from "./signature";

export interface Delivery {
  status: number;
  body: unknown;
}

type Fetch = (request: Request, env: Env, ctx: ExecutionContext) => Response | Promise<Response>;
let appFetch: Fetch | null = null;

async function webhookEndpoint(): Promise<Fetch> {
  // Imported on first use: the app imports the sandbox routes that import this module.
  if (!appFetch) {
    const { newApp } = await import("../app");
    const app = newApp();
    appFetch = (request, env, ctx) => app.fetch(request, env, ctx);
  }
  return appFetch;
}

export async function deliverBankEvent(env: Env, ctx: object, secret: string, event: object): Promise<Delivery> {
  const body = JSON.stringify(event);
  const request = new Request("http://sandbox.internal/v1/bank/events", {
    method: "POST",
    headers: { "content-type": "application/json", "bank-signature": await signatureHeader(body, secret) },
    body,
  });
  const response = await (await webhookEndpoint())(request, env, ctx as ExecutionContext);
  return { status: response.status, body: await response.json().catch(() => null) };
}
