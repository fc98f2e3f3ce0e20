import { newApp } from "./app";
import type { Env } from "./env";

export { CustomerAccount } from "./accounts/customer-account";

const app = newApp();

export default {
  fetch: app.fetch,
} satisfies ExportedHandler<Env>;

export type AppType = typeof app;
