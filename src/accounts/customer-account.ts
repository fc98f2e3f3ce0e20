import { DurableObject } from "cloudflare:workers";
import type { Env } from "../env";

/** One per customer: the only place a customer's balance changes. (Money core: issue 3.) */
export class CustomerAccount extends DurableObject<Env> {}
