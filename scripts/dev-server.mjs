// A throwaway `wrangler dev` for scripts and tests that need a real server (the console's browser
// test, its screenshots, `npm run lint:openapi`): a free port, its own temporary state directory with the migrations
// applied, the secrets of .dev.vars (created as `npm run dev` does), and a stop() that takes the
// whole process group down and deletes the state.
//
//   const server = await startDevServer();   // { url, operatorKey, bankSecret, stop }
//   …
//   await server.stop();
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { ensureDevVars } from "./ensure-dev-vars.mjs";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const WRANGLER = path.join(ROOT, "node_modules", ".bin", "wrangler");
// node_modules/.bin first: wrangler runs on the project's pinned Node (the `node` devDependency).
const BIN_PATH = `${path.join(ROOT, "node_modules", ".bin")}${path.delimiter}${process.env.PATH ?? ""}`;
const QUIET_ENV = { ...process.env, PATH: BIN_PATH, CI: "true", CLOUDFLARE_CF_FETCH_ENABLED: "false", WRANGLER_SEND_METRICS: "false", NO_COLOR: "1" };

/** A port nothing listens on right now (the OS picks it). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

async function waitUntilAnswering(url, child, output, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`wrangler dev exited (${child.exitCode}) before answering:\n${output.join("")}`);
    try {
      const response = await fetch(`${url}/openapi.json`, { signal: AbortSignal.timeout(2_000) });
      await response.arrayBuffer();
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`wrangler dev did not answer on ${url} within ${timeoutMs} ms:\n${output.join("")}`);
}

/**
 * Starts the Worker with `wrangler dev` and resolves once it answers. `log: true` mirrors
 * wrangler's output (otherwise it is kept, and shown only if the server fails to start).
 */
export async function startDevServer({ timeoutMs = 60_000, log = false, migrate = true } = {}) {
  const previousDir = process.cwd();
  process.chdir(ROOT); // .dev.vars lives at the project's root
  const vars = ensureDevVars();
  process.chdir(previousDir);
  const persistTo = mkdtempSync(path.join(tmpdir(), "vaa-dev-"));
  // `migrate: false` for callers that only read what needs no database (e.g. /openapi.json).
  const migration = migrate
    ? spawnSync(WRANGLER, ["d1", "migrations", "apply", "DB", "--local", "--persist-to", persistTo], { cwd: ROOT, env: QUIET_ENV, encoding: "utf8" })
    : { status: 0 };
  if (migration.status !== 0) {
    rmSync(persistTo, { recursive: true, force: true });
    throw new Error(`Applying the migrations failed:\n${migration.stdout}\n${migration.stderr}`);
  }

  const port = await freePort();
  const inspectorPort = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const args = ["dev", "--ip", "127.0.0.1", "--port", String(port), "--inspector-port", String(inspectorPort), "--persist-to", persistTo, "--show-interactive-dev-session=false", "--log-level", "warn"];
  // Its own process group, so stop() reaches workerd too.
  const child = spawn(WRANGLER, args, { cwd: ROOT, env: QUIET_ENV, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  const output = [];
  for (const stream of [child.stdout, child.stderr]) {
    stream.setEncoding("utf8");
    stream.on("data", (chunk) => {
      output.push(chunk);
      if (log) process.stderr.write(chunk);
    });
  }

  let stopped = false;
  async function stop() {
    if (stopped) return;
    stopped = true;
    if (child.exitCode === null) {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      try {
        process.kill(-child.pid, "SIGTERM");
      } catch {
        // already gone
      }
      const timer = setTimeout(() => {
        try {
          process.kill(-child.pid, "SIGKILL");
        } catch {
          // already gone
        }
      }, 5_000);
      // Never hang a test run on a process that will not say it exited.
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 10_000))]);
      clearTimeout(timer);
    }
    rmSync(persistTo, { recursive: true, force: true });
  }

  try {
    await waitUntilAnswering(url, child, output, timeoutMs);
  } catch (error) {
    await stop();
    throw error;
  }
  return { url, operatorKey: vars.ADMIN_API_KEY, bankSecret: vars.BANK_WEBHOOK_SECRET, persistTo, stop };
}
