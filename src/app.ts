import { Scalar } from "@scalar/hono-api-reference";
import { HTTPException } from "hono/http-exception";
import { newRouter } from "./context";
import { consoleRouter } from "./console/router";
import { ConfigError } from "./env";
import { ApiError, errorsPagePath, problem } from "./errors";
import { errorsPage } from "./errors-page";
import { limits } from "./limits";
import { log } from "./log";
import { authenticate } from "./middleware/auth";
import { idempotency } from "./middleware/idempotency";
import { limitBodySize, requireJsonBody } from "./middleware/json-body";
import { rateLimit } from "./middleware/rate-limit";
import { requestContext } from "./middleware/request-context";
import { registerRoutes } from "./routes";
import { startPage } from "./start-page";

const openApiInfo = {
  openapi: "3.1.0",
  info: {
    title: "Virtual Accounts API",
    version: "1.0.0",
    description:
      "Customer balances in ARS fed by bank transfers into one settlement account and drained by payouts, " +
      "over a double-entry ledger reconciled daily against the bank. Errors are RFC 9457 problem+json; " +
      "every POST accepts an Idempotency-Key. Request bodies are JSON: a Content-Type whose media type is " +
      "application/json is accepted whatever its parameters (charset is ignored: bodies are UTF-8); any other media " +
      "type is 415 unsupported_media_type, `+json` suffix types included (application/merge-patch+json, " +
      "application/json-patch+json and the like name semantics this API does not implement). " +
      "Idempotency-Key: a repeat with the same key and body replays the first answer (`Idempotent-Replayed: true`); " +
      "another body is 422 idempotency_key_reused; a repeat while the first runs is 409 idempotency_key_in_flight. " +
      "A request refused before anything ran (400, 413, 415) is not recorded: fix it and retry with the same key. " +
      "Once a request has started its key keeps the request's fingerprint whatever the answer: a 5xx is not stored, " +
      "so a retry with the same body runs again (and finishes the same operation), while another body is 422. " +
      `Keys are kept ${limits.idempotency_retention_ms / 3_600_000} hours; a key reused after that is a new request and never answers or changes the old one's resource. ` +
      "Where the contract is silent this API follows Stripe's conventions: " +
      "unknown request fields are rejected, and lists are newest first with opaque cursors. " +
      "`GET /` is for people: an HTML page leading to this document and its reference page (/docs), unless the " +
      "Accept header prefers application/json to text/html, which gets a JSON index of the same links " +
      "(`documentation_url`, `openapi_url`, `console_url`: the operator console). The `servers` entry is the origin this document was fetched from.",
  },
};

/**
 * /docs, the reference page: it needs nothing from the internet. Its script is served by the Worker's
 * static assets (wrangler.toml [assets]; copied from the pinned @scalar/api-reference by
 * scripts/copy-docs-assets.mjs), fonts are the browser's own, and telemetry is off.
 */
export const docsPage = {
  url: "/openapi.json",
  pageTitle: "Virtual Accounts API",
  cdn: "/assets/scalar-api-reference.js",
  withDefaultFonts: false,
  telemetry: false,
} satisfies Parameters<typeof Scalar>[0];

/** The one place where the HTTP app is assembled: middleware order matters and is read top-down. */
export function newApp() {
  const app = newRouter();

  app.openAPIRegistry.registerComponent("securitySchemes", "operatorKey", {
    type: "http",
    scheme: "bearer",
    description: "The platform operator's key (the ADMIN_API_KEY secret).",
  });
  app.openAPIRegistry.registerComponent("securitySchemes", "merchantKey", {
    type: "http",
    scheme: "bearer",
    description:
      "A merchant API key, returned once by POST /v1/merchants or POST /v1/merchants/{id}/api-keys. A new key works at " +
      `once. A revoked key answers 401 at most ${limits.api_key_cache_ms / 1000} s after its DELETE returns: each isolate ` +
      `of the Worker remembers a key it has looked up (by its SHA-256, never in clear) for up to ${limits.api_key_cache_ms / 1000} s.`,
  });
  app.openAPIRegistry.registerComponent("securitySchemes", "bankSignature", {
    type: "apiKey",
    in: "header",
    name: "Bank-Signature",
    description: "t=<unix seconds>,v1=<hex HMAC-SHA256 of `<t>.<raw body>` with BANK_WEBHOOK_SECRET>.",
  });

  app.use("*", requestContext);
  app.use("/v1/*", limitBodySize, requireJsonBody);
  // The bank authenticates by signature, checked by its own route over the raw body.
  app.use("/v1/*", async (c, next) => (c.req.path === "/v1/bank/events" ? next() : authenticate(c, next)));
  app.use("/v1/*", async (c, next) => (c.req.path === "/v1/bank/events" ? next() : rateLimit(c, next)));
  app.use("/v1/*", idempotency);

  // The chained value carries every route's type: exported as AppType for hono/client.
  const routes = registerRoutes(app);

  // Built here rather than with doc31(), whose own error answer would leak the generator's
  // error: a failure goes through onError like any other (problem+json, nothing internal).
  let document: ReturnType<typeof app.getOpenAPI31Document> | undefined;
  // `servers` is the origin that served the document, so it names the real host and port
  // (`npm run dev -- --port 8788`, or a deployment) instead of a fixed localhost:8787.
  app.get("/openapi.json", (c) => {
    document ??= app.getOpenAPI31Document(openApiInfo);
    return c.json({ ...document, servers: [{ url: new URL(c.req.url).origin, description: "this server" }] });
  });
  app.get("/", startPage);
  app.get("/docs", Scalar(docsPage));
  app.get(errorsPagePath, errorsPage);
  // The operator console calls this same app for everything it shows or does (src/console/api.ts).
  app.route("/console", consoleRouter((request, env, ctx) => app.fetch(request, env, ctx)));

  app.notFound((c) => problem(c, "not_found", `No route for ${c.req.method} ${c.req.path}.`));

  app.onError((error, c) => {
    if (error instanceof ApiError) return problem(c, error.code, error.detail, error.errors);
    if (error instanceof ConfigError) {
      log("error", "refusing to serve: configuration invalid", { problems: error.problems });
      return problem(c, "unavailable", `The service is misconfigured: ${error.problems.join("; ")}.`);
    }
    if (error instanceof HTTPException && error.status === 400) {
      // Hono's JSON validator: the body is not JSON at all.
      return problem(c, "invalid_request", "The request body is not valid JSON.", [{ path: "body", message: "malformed JSON" }]);
    }
    if (error instanceof HTTPException && error.status === 415) {
      // A route's own media-type gate. requireJsonBody answers first, so this is a safety net:
      // a content type we refuse is never a 500.
      return problem(c, "unsupported_media_type", "Request bodies must be JSON (Content-Type: application/json).");
    }
    log("error", "unhandled error", { request_id: c.get("requestId"), error: String(error), stack: (error as Error).stack });
    return problem(c, "internal_error", "Something went wrong on our side. The request id identifies it to support.");
  });

  return routes;
}

export type App = ReturnType<typeof newApp>;
