import type { Context } from "hono";
import { accepts } from "hono/accepts";

/**
 * `GET /`: where a person who opens the server's address lands. A browser, and curl (which sends
 * `Accept: *\/*`), get a small HTML page; a client that asks for `application/json` ahead of
 * `text/html` gets a JSON index of the same links. Public, like /docs and /openapi.json.
 *
 * The page has no script and loads nothing (styles inline), so it works offline; its CSP says so.
 * Every link must answer 200 (test/app/start-page.test.ts): a link to a 404 is exactly the trap
 * this page exists to remove.
 */
export function startPage(c: Context) {
  c.header("Vary", "Accept");
  const type = accepts(c, { header: "Accept", supports: ["text/html", "application/json"], default: "text/html" });
  if (type === "application/json") {
    return c.json(
      {
        name: "Virtual Accounts API",
        documentation_url: "/docs",
        openapi_url: "/openapi.json",
        console_url: "/console",
      },
      200,
    );
  }
  c.header("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'");
  return c.html(PAGE, 200);
}

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Virtual Accounts API</title>
<style>
  body { font: 16px/1.5 system-ui, sans-serif; max-width: 40rem; margin: 3rem auto; padding: 0 1rem; color: #1b1b1b; }
  h1 { font-size: 1.5rem; margin-bottom: 0.25rem; }
  p.lead { margin-top: 0; color: #555; }
  ul { padding-left: 1.25rem; }
  li { margin: 0.5rem 0; }
  code { font: 0.9em ui-monospace, monospace; background: #f2f2f2; padding: 0.1em 0.3em; border-radius: 3px; }
</style>
</head>
<body>
<h1>Virtual Accounts API</h1>
<p class="lead">Customer balances in ARS, fed by bank transfers and drained by payouts, over a double-entry ledger reconciled daily.</p>
<ul>
  <li><a href="/docs">API reference</a>: every operation, with its requests, answers and errors.</li>
  <li><a href="/openapi.json">OpenAPI 3.1 document</a>: the same contract, for generated clients and tools.</li>
  <li><a href="/console">Operator console</a>: the quarantine, reconciliation, failed bank events, invariants and merchants, with the operator key.</li>
</ul>
<p>Calls under <code>/v1</code> take <code>Authorization: Bearer &lt;key&gt;</code>: the operator key (<code>ADMIN_API_KEY</code>) or a merchant key the operator issues; the bank signs its events instead. Locally, <code>npm run dev</code> prints the operator key.</p>
</body>
</html>
`;
