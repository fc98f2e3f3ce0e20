/** The console's one HTML page: the login form, the navigation, and where views are shown. */
import { raw } from "hono/html";

const STYLE = `
  :root { color-scheme: light; --ok: #136f2d; --bad: #a1151b; --line: #d9d9d9; --muted: #666; --accent: #0b57d0; }
  * { box-sizing: border-box; }
  body { font: 15px/1.45 system-ui, sans-serif; margin: 0; color: #1b1b1b; background: #fafafa; }
  header { display: flex; align-items: center; gap: 1rem; padding: 0.6rem 1.25rem; background: #1f2937; color: #fff; }
  header h1 { font-size: 1.1rem; margin: 0; }
  header a { color: #fff; }
  header .spacer { flex: 1; }
  main { padding: 1rem 1.25rem 3rem; max-width: 90rem; }
  nav#views { display: flex; gap: 0.25rem; flex-wrap: wrap; margin-bottom: 1rem; border-bottom: 1px solid var(--line); }
  nav#views a { padding: 0.45rem 0.8rem; text-decoration: none; color: #1b1b1b; border-radius: 6px 6px 0 0; }
  nav#views a[aria-current=page] { background: #fff; border: 1px solid var(--line); border-bottom-color: #fff; margin-bottom: -1px; font-weight: 600; }
  h2 { font-size: 1.35rem; margin: 0.25rem 0 0.5rem; }
  h3 { font-size: 1.1rem; margin: 1.25rem 0 0.5rem; }
  p.lead { color: #444; margin-top: 0; }
  table { border-collapse: collapse; width: 100%; background: #fff; margin: 0.5rem 0 1rem; }
  caption { text-align: left; color: var(--muted); padding: 0.25rem 0; }
  th, td { border: 1px solid var(--line); padding: 0.4rem 0.55rem; text-align: left; vertical-align: top; }
  th { background: #f1f3f5; font-weight: 600; }
  .num { text-align: right; }
  .money, time { white-space: nowrap; font-variant-numeric: tabular-nums; }
  .muted { color: var(--muted); }
  code { font: 0.88em ui-monospace, monospace; background: #f2f2f2; padding: 0.05em 0.3em; border-radius: 3px; word-break: break-all; }
  label { display: block; font-weight: 600; font-size: 0.9em; margin: 0.3rem 0 0.1rem; }
  input, textarea { font: inherit; padding: 0.3rem 0.45rem; border: 1px solid #999; border-radius: 4px; width: 100%; max-width: 24rem; }
  button { font: inherit; padding: 0.35rem 0.8rem; border-radius: 4px; border: 1px solid var(--accent); background: var(--accent); color: #fff; cursor: pointer; margin-top: 0.35rem; }
  button.secondary { background: #fff; color: var(--accent); }
  button:disabled { opacity: 0.6; cursor: progress; }
  :focus-visible { outline: 3px solid #f4b400; outline-offset: 2px; }
  form.inline { margin-bottom: 0.4rem; }
  .toolbar { display: flex; gap: 2rem; flex-wrap: wrap; align-items: flex-end; }
  .card { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 0.25rem 1rem 1rem; max-width: 32rem; margin-bottom: 1rem; }
  .notice { border-radius: 6px; padding: 0.5rem 1rem; margin: 0.5rem 0 1rem; border: 1px solid; }
  .notice.ok { background: #e9f6ec; border-color: var(--ok); }
  .notice.error { background: #fdecec; border-color: var(--bad); }
  .badge { display: inline-block; padding: 0 0.45rem; border-radius: 999px; font-size: 0.85em; border: 1px solid currentColor; }
  .badge.completed, .badge.processed, .badge.ok, .badge.resolved, .badge.recovered { color: var(--ok); }
  .badge.failed, .badge.bad, .badge.open { color: var(--bad); }
  .badge.running { color: #8a5a00; }
  ul.checks { list-style: none; padding: 0; }
  li.check { background: #fff; border: 1px solid var(--line); border-left: 6px solid; border-radius: 4px; padding: 0.4rem 0.8rem; margin: 0.5rem 0; }
  li.check.ok { border-left-color: var(--ok); }
  li.check.bad { border-left-color: var(--bad); }
  li.check p { margin: 0.2rem 0; }
  p.summary { font-weight: 600; font-size: 1.05rem; }
  p.summary.ok { color: var(--ok); }
  p.summary.bad { color: var(--bad); }
  dl.facts, dl.balance, dl.secrets { display: grid; grid-template-columns: max-content auto; gap: 0.2rem 1rem; }
  dt { font-weight: 600; }
  dd { margin: 0; }
  .pager, .tabs { display: flex; gap: 1rem; margin: 0.5rem 0; }
  .tabs a[aria-current=page] { font-weight: 700; }
  pre { white-space: pre-wrap; word-break: break-all; font-size: 0.85em; max-width: 40rem; }
  #login { max-width: 28rem; background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 0.5rem 1.25rem 1.25rem; }
  #login-error { color: var(--bad); font-weight: 600; min-height: 1.4em; }
  #status { color: var(--muted); min-height: 1.2em; margin: 0; }
`;

export function ShellPage() {
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <meta name="referrer" content="no-referrer" />
        <title>Operator console · Virtual Accounts API</title>
        <style>{raw(STYLE)}</style>
        <script src="/console/app.js" defer></script>
      </head>
      <body>
        <header>
          <h1>Operator console</h1>
          <span class="spacer"></span>
          <a href="/docs">API reference</a>
        </header>
        <main>
          <noscript>
            <p>The console needs JavaScript: it keeps the operator key in this tab and sends it with each request.</p>
          </noscript>
          <section id="login" aria-labelledby="login-title" hidden>
            <h2 id="login-title">Log in</h2>
            <p>
              Enter the operator key (<code>ADMIN_API_KEY</code>; <code>npm run dev</code> prints it). It stays in this tab only, and is forgotten when the tab closes.
            </p>
            <form id="login-form" autocomplete="off">
              <label for="operator-key">Operator key</label>
              <input id="operator-key" name="operator_key" type="password" required autocomplete="off" spellcheck={false} />
              <p id="login-error" role="alert"></p>
              <button type="submit">Log in</button>
            </form>
          </section>
          <div id="app" hidden>
            <nav id="views" aria-label="Views">
              <a href="#/quarantine">Quarantine</a>
              <a href="#/reconciliations">Reconciliation</a>
              <a href="#/bank-events">Failed bank events</a>
              <a href="#/invariants">Invariants</a>
              <a href="#/merchants">Merchants</a>
              <span class="spacer" style="flex:1"></span>
              <button type="button" id="logout" class="secondary">
                Log out
              </button>
            </nav>
            <p id="status" role="status" aria-live="polite"></p>
            <div id="view"></div>
          </div>
        </main>
      </body>
    </html>
  );
}
