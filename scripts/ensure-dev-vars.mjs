// Used by `npm run dev` (scripts/dev.mjs): makes sure .dev.vars holds the local development
// secrets (copied from .dev.vars.example on a fresh clone; a key missing from an older .dev.vars
// is added) and returns them, because they are what a developer needs to call the API and sign
// bank events.
import { appendFileSync, copyFileSync, existsSync, readFileSync } from "node:fs";

const EXAMPLE_PATH = ".dev.vars.example";
const VARS_PATH = ".dev.vars";

/** KEY=value lines of a dotenv file; surrounding quotes are dropped as wrangler does. */
function parseDotenv(path) {
  const entries = readFileSync(path, "utf8")
    .split(/\r?\n/)
    .map((line) => /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$/.exec(line))
    .filter((match) => match !== null)
    .map(([, key, value]) => [key, value.replace(/^(["'])(.*)\1$/, "$2")]);
  return Object.fromEntries(entries);
}

/** Creates or completes .dev.vars, then returns its keys and values. */
export function ensureDevVars() {
  if (!existsSync(VARS_PATH)) {
    copyFileSync(EXAMPLE_PATH, VARS_PATH);
    console.log(`Created ${VARS_PATH} from ${EXAMPLE_PATH} (local development secrets).`);
  } else {
    const example = parseDotenv(EXAMPLE_PATH);
    const current = parseDotenv(VARS_PATH);
    const missing = Object.keys(example).filter((key) => !(key in current));
    if (missing.length > 0) {
      const text = readFileSync(VARS_PATH, "utf8");
      const separator = text === "" || text.endsWith("\n") ? "" : "\n";
      appendFileSync(VARS_PATH, separator + missing.map((key) => `${key}=${example[key]}\n`).join(""));
      console.log(`Added ${missing.join(", ")} to ${VARS_PATH} from ${EXAMPLE_PATH}.`);
    }
  }
  return parseDotenv(VARS_PATH);
}
