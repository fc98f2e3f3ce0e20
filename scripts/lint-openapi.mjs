// `npm run lint:openapi`: lints the OpenAPI document the Worker really serves with Redocly's
// recommended rules (redocly.yaml), failing on any error.
//
// The document is generated at run time from the routes' zod schemas, so it is fetched from a
// real Worker: `wrangler dev` on a free loopback port with a throwaway state directory (nothing
// touches .wrangler/state), stopped as soon as /openapi.json has answered. Wrangler's output is
// shown only if the document cannot be fetched.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";

const root = path.join(import.meta.dirname, "..");
const bin = (name) => path.join(root, "node_modules", ".bin", name);
const STARTUP_TIMEOUT_MS = 60_000;
// As under npm: node_modules/.bin first, so that wrangler and redocly run on the node@22 devDependency.
const env = { ...process.env, PATH: `${path.join(root, "node_modules", ".bin")}${path.delimiter}${process.env.PATH}` };

const work = mkdtempSync(path.join(tmpdir(), "lint-openapi-"));
let exitCode = 1;
try {
  const document = await fetchServedDocument(path.join(work, "state"));
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

async function fetchServedDocument(stateDir) {
  const port = await freePort();
  const wrangler = spawn(
    bin("wrangler"),
    ["dev", "--ip", "127.0.0.1", "--port", String(port), "--persist-to", stateDir, "--show-interactive-dev-session=false",
      // The configuration check refuses to serve without the secrets: the example's local-only ones.
      "--env-file", path.join(root, ".dev.vars.example")],
    { cwd: root, env: { ...env, CLOUDFLARE_CF_FETCH_ENABLED: "false", WRANGLER_SEND_METRICS: "false" } },
  );
  let output = "";
  wrangler.stdout.on("data", (chunk) => (output += chunk));
  wrangler.stderr.on("data", (chunk) => (output += chunk));
  const exited = new Promise((resolve) => wrangler.on("exit", resolve));
  try {
    const deadline = Date.now() + STARTUP_TIMEOUT_MS;
    while (Date.now() < deadline && wrangler.exitCode === null) {
      let response;
      try {
        response = await fetch(`http://127.0.0.1:${port}/openapi.json`);
      } catch {
        // Not listening yet.
      }
      if (response?.ok) return await response.text();
      if (response) throw new Error(`GET /openapi.json answered ${response.status}: ${await response.text()}\n${output}`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    const why = wrangler.exitCode === null ? `did not serve /openapi.json within ${STARTUP_TIMEOUT_MS / 1000} s` : `exited (${wrangler.exitCode})`;
    throw new Error(`wrangler dev ${why}. Its output:\n${output}`);
  } finally {
    wrangler.kill("SIGTERM");
    await exited;
  }
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
    server.on("error", reject);
  });
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
