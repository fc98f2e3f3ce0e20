// `npm run dev [-- <wrangler dev options>]`: prepares .dev.vars, prints the local secrets and the
// URL the server will really listen on, then runs `wrangler dev` with the caller's options.
//
// The port lives here, not in package.json: npm appends `-- --port 8788` after the script's own
// arguments, and wrangler refuses a second --port. And it is always passed explicitly: wrangler
// moves on to the next free port when its default (8787) is taken, which the banner could not know.
import { spawn } from "node:child_process";
import { constants } from "node:os";
import { parseArgs } from "node:util";
import { ensureDevVars } from "./ensure-dev-vars.mjs";

const DEFAULT_PORT = "8787";

const args = process.argv.slice(2);
// Only --port matters here; everything else is wrangler's to read (strict: false lets it through).
const { tokens } = parseArgs({ args, options: { port: { type: "string" } }, strict: false, allowPositionals: true, tokens: true });
const ports = tokens.filter((token) => token.kind === "option" && token.name === "port").map((token) => token.value);
if (ports.length > 1 || (ports.length === 1 && !isPort(ports[0]))) {
  console.error(`npm run dev: give --port once, as a number from 1 to 65535 (got ${ports.map((port) => port ?? "no value").join(", ")}).`);
  process.exit(2);
}
const port = ports[0] ?? DEFAULT_PORT;

const vars = ensureDevVars();
const lines = [
  "Local development secrets (from .dev.vars):",
  `  Operator key         ADMIN_API_KEY=${vars.ADMIN_API_KEY ?? "(missing)"}`,
  `  Bank webhook secret  BANK_WEBHOOK_SECRET=${vars.BANK_WEBHOOK_SECRET ?? "(missing)"}`,
  `API on http://localhost:${port} (start page: /, reference: /docs, OpenAPI: /openapi.json)`,
];
const width = Math.max(...lines.map((line) => line.length));
const rule = "=".repeat(width);
console.log(["", rule, ...lines, rule, ""].join("\n"));

const wranglerArgs = ports.length === 0 ? ["dev", "--port", DEFAULT_PORT, ...args] : ["dev", ...args];
const wrangler = spawn("wrangler", wranglerArgs, { stdio: "inherit" });
wrangler.on("error", (error) => {
  console.error(`npm run dev: could not start wrangler (${error.message}).`);
  process.exit(1);
});
// Ctrl-C reaches wrangler too (same process group); a signal sent to this process alone is passed
// on, and this process stays until wrangler has shut its workerd down.
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) process.on(signal, () => wrangler.kill(signal));
wrangler.on("exit", (code, signal) => process.exit(code ?? 128 + (constants.signals[signal] ?? 0)));

function isPort(value) {
  return typeof value === "string" && /^[0-9]{1,5}$/.test(value) && Number(value) >= 1 && Number(value) <= 65535;
}
