// `npm run lint:openapi`: lints the OpenAPI document the Worker really serves with Redocly's
// recommended rules (redocly.yaml), failing on any error.
//
// The document is generated at run time from the routes' zod schemas, so it is fetched from a
// real Worker: the throwaway `wrangler dev` of scripts/dev-server.mjs (free port, its own state,
// no migrations needed), stopped as soon as /openapi.json has answered. Wrangler's output is
// shown only if it cannot start.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { startDevServer } from "./dev-server.mjs";

const root = path.join(import.meta.dirname, "..");
const bin = (name) => path.join(root, "node_modules", ".bin", name);
// As under npm: node_modules/.bin first, so that wrangler and redocly run on the node@22 devDependency.
const env = { ...process.env, PATH: `${path.join(root, "node_modules", ".bin")}${path.delimiter}${process.env.PATH}` };

const work = mkdtempSync(path.join(tmpdir(), "lint-openapi-"));
let exitCode = 1;
try {
  const document = await fetchServedDocument();
  const file = path.join(work, "openapi.json");
  // Pretty-printed, so that a problem's line and column point somewhere readable.
  writeFileSync(file, JSON.stringify(JSON.parse(document), null, 2));
  const lint = await run(bin("redocly"), ["lint", "--config", path.join(root, "redocly.yaml"), file]);
  exitCode = lint.code;
  // A clean pass says one line (npm test stays quiet); errors and warnings are shown in full.
  if (lint.code !== 0 || /warning/i.test(lint.output)) process.stderr.write(lint.output);
  else console.log("lint:openapi: the served /openapi.json passes Redocly's recommended rules (redocly.yaml).");
} catch (error) {
  console.error(`lint:openapi: ${error.message}`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
process.exit(exitCode);

async function fetchServedDocument() {
  const server = await startDevServer({ migrate: false });
  try {
    const response = await fetch(`${server.url}/openapi.json`);
    if (!response.ok) throw new Error(`GET /openapi.json answered ${response.status}: ${await response.text()}`);
    return await response.text();
  } finally {
    await server.stop();
  }
}

/** Runs a command to its end: its exit code and its output (stdout and stderr, interleaved). */
function run(command, args) {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd: root, env });
    let output = "";
    child.stdout.on("data", (chunk) => (output += chunk));
    child.stderr.on("data", (chunk) => (output += chunk));
    child.on("error", (error) => resolve({ code: 1, output: `${command}: ${error.message}\n` }));
    child.on("close", (code, signal) => resolve({ code: code ?? (signal ? 1 : 0), output }));
  });
}
