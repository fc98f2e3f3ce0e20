/**
 * `GET /errors`: the page every problem's `type` points at (`/errors#<code>`). Rendered on the
 * server from the same catalog the problem bodies use, so it lists every code the API can answer
 * and nothing else. Public, plain HTML, no script: it must work with no internet and no key.
 */
import type { Context } from "hono";
import { html } from "hono/html";
import type { AppEnv } from "./context";
import { errorCatalog, errorCodes, errorsPagePath } from "./errors";

/** The catalog writes code spans as markdown (`x`) for the OpenAPI document; here they are <code>. */
function withCodeSpans(text: string) {
  return text.split("`").map((part, index) => (index % 2 === 1 ? html`<code>${part}</code>` : part));
}

export function renderErrorsPage() {
  const rows = errorCodes.map((code) => {
    const { status, title, meaning } = errorCatalog[code];
    return html`<tr id="${code}">
      <td><a href="#${code}"><code>${code}</code></a></td><td>${status}</td><td>${title}</td><td>${withCodeSpans(meaning)}</td>
    </tr>`;
  });
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Error codes · Virtual Accounts API</title>
<style>
  body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 60rem; padding: 0 1rem; line-height: 1.4; }
  table { border-collapse: collapse; width: 100%; }
  th, td { border-bottom: 1px solid #ddd; padding: 0.4rem 0.6rem; text-align: left; vertical-align: top; }
  tr:target { background: #fff6cc; }
</style>
</head>
<body>
<h1>Error codes</h1>
<p>Every error is an RFC 9457 <code>application/problem+json</code> body:
<code>{ "type", "title", "status", "detail", "code" }</code>, plus <code>errors: [{ "path", "message" }]</code>
naming each bad field. Branch on <code>code</code>: it is stable. <code>type</code> is
<code>${errorsPagePath}#&lt;code&gt;</code>, a relative URL to this page's entry for the code;
it stays the same as long as the code does. <code>detail</code> is for people and may change.</p>
<p>Reference: <a href="/docs">/docs</a> · <a href="/openapi.json">/openapi.json</a></p>
<table>
<thead><tr><th>code</th><th>status</th><th>title</th><th>meaning</th></tr></thead>
<tbody>
${rows}
</tbody>
</table>
</body>
</html>`;
}

export function errorsPage(c: Context<AppEnv>) {
  return c.html(renderErrorsPage());
}
