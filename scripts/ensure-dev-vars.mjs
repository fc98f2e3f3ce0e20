// Creates .dev.vars from .dev.vars.example on a fresh clone, and prints the local secrets.
import { copyFileSync, existsSync, readFileSync } from "node:fs";

if (!existsSync(".dev.vars")) {
  copyFileSync(".dev.vars.example", ".dev.vars");
  console.log("Created .dev.vars from .dev.vars.example (local development secrets).");
}
const vars = Object.fromEntries(
  readFileSync(".dev.vars", "utf8")
    .split("\n")
    .filter((line) => /^[A-Z_]+=/.test(line))
    .map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1)]),
);
console.log(`Operator key (ADMIN_API_KEY):             ${vars.ADMIN_API_KEY ?? "(missing)"}`);
console.log(`Bank webhook secret (BANK_WEBHOOK_SECRET): ${vars.BANK_WEBHOOK_SECRET ?? "(missing)"}`);
