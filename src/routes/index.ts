import type { OpenAPIHono } from "@hono/zod-openapi";
import type { AppEnv } from "../context";

/** Mounts every resource's router under the app. One line per resource. */
export function registerRoutes(app: OpenAPIHono<AppEnv>) {
  return app;
}
