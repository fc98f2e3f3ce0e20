// A throwaway `wrangler dev` for scripts and tests that need a real server (the console's browser
// test, its screenshots, `npm run lint:openapi`): a free port, its own temporary state directory with the migrations
// applied, the secrets of .dev.vars (created as `npm run dev` does), and a stop() that takes the
// whole process group down and deletes the state.
//
//   const server = await startDevServer();   // { url, operatorKey, bankSecret, stop }
//   …
//   await server.stop();
import { spawn } from "node:child_process";
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

/**
 * `work` with its own timer: it rejects at `ms` even if the abort signal is never heeded (a
 * probe that hung past its AbortSignal.timeout once kept a CI run waiting until it was killed).
 */
function withinMs(ms, work) {
  const controller = new AbortController();
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => {
      controller.abort();
      reject(new Error(`no answer within ${ms} ms`));
    }, ms);
  });
  return Promise.race([work(controller.signal), timeout]).finally(() => clearTimeout(timer));
}

async function waitUntilAnswering(url, child, output, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    trace("asking /openapi.json");
    if (child.exitCode !== null) throw new Error(`wrangler dev exited (${child.exitCode}) before answering, after ${timeoutMs - (deadline - Date.now())} ms:\n${output.join("")}`);
    try {
      const status = await withinMs(2_000, async (signal) => {
        const response = await fetch(`${url}/openapi.json`, { signal });
        await response.arrayBuffer();
        return response.status;
      });
      trace(`answered ${status}`);
      if (status === 200) return;
    } catch (error) {
      trace(`not answering yet: ${error?.cause?.code ?? error?.name ?? error}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`wrangler dev did not answer on ${url} within ${timeoutMs} ms:\n${output.join("")}`);
}

/**
 * Runs wrangler to completion, never longer than `timeoutMs` (then its whole process group is
 * killed). Async on purpose: a spawnSync that hangs would also freeze the caller's own timeouts.
 */
function runWrangler(args, timeoutMs, signal) {
  return new Promise((resolve) => {
    const child = spawn(WRANGLER, args, { cwd: ROOT, env: QUIET_ENV, detached: true, stdio: ["ignore", "pipe", "pipe"] });
    const abort = () => killGroup(child, "SIGKILL");
    signal?.addEventListener("abort", abort, { once: true });
    const output = [];
    for (const stream of [child.stdout, child.stderr]) {
      stream.setEncoding("utf8");
      stream.on("data", (chunk) => output.push(chunk));
    }
    const timer = setTimeout(() => {
      output.push(`\n[killed after ${timeoutMs} ms]\n`);
      killGroup(child, "SIGKILL");
    }, timeoutMs);
    child.on("close", (status) => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", abort);
      resolve({ status, output: output.join("") });
    });
  });
}

function killGroup(child, signal) {
  try {
    process.kill(-child.pid, signal);
  } catch {
    // already gone
  }
}

// DEV_SERVER_TRACE=1 prints each step of starting and stopping, with the time it took.
const trace = process.env.DEV_SERVER_TRACE === "1" ? (message) => process.stderr.write(`[dev-server ${new Date().toISOString()}] ${message}\n`) : () => {};

const seconds = (since) => `${((Date.now() - since) / 1000).toFixed(1)} s`;

/**
 * Starts the Worker with `wrangler dev` and resolves once it answers. `log: true` mirrors
 * wrangler's output (otherwise it is kept, and shown only if the server fails to start). A failure
 * says which step failed, after how long, with everything wrangler printed. Aborting `signal`
 * (a test's after() hook, when its before() gave up) kills whatever it has started so far.
 */
export async function startDevServer({ timeoutMs = 60_000, migrationTimeoutMs = 90_000, log = false, migrate = true, signal } = {}) {
  const previousDir = process.cwd();
  process.chdir(ROOT); // .dev.vars lives at the project's root
  const vars = ensureDevVars();
  process.chdir(previousDir);
  const persistTo = mkdtempSync(path.join(tmpdir(), "vaa-dev-"));
  // `migrate: false` for callers that only read what needs no database (e.g. /openapi.json).
  if (migrate) {
    const started = Date.now();
    trace("applying the migrations");
    const migration = await runWrangler(["d1", "migrations", "apply", "DB", "--local", "--persist-to", persistTo], migrationTimeoutMs, signal);
    if (migration.status !== 0) {
      rmSync(persistTo, { recursive: true, force: true });
      throw new Error(`Applying the migrations ${signal?.aborted ? "was aborted" : "failed"} (exit ${migration.status}, after ${seconds(started)}):\n${migration.output}`);
    }
  }

  trace("migrations applied; finding ports");
  const port = await freePort();
  const inspectorPort = await freePort();
  trace(`starting wrangler dev on port ${port}`);
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
      killGroup(child, "SIGTERM");
      const timer = setTimeout(() => killGroup(child, "SIGKILL"), 5_000);
      // Never hang a test run on a process that will not say it exited.
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 10_000))]);
      clearTimeout(timer);
    }
    // Whatever the process did, its pipes must not keep the caller alive.
    child.stdout.destroy();
    child.stderr.destroy();
    child.unref();
    rmSync(persistTo, { recursive: true, force: true });
  }

  const abort = () => void stop();
  signal?.addEventListener("abort", abort, { once: true });
  try {
    if (signal?.aborted) throw new Error("startDevServer was aborted");
    await waitUntilAnswering(url, child, output, timeoutMs);
    trace("answering");
  } catch (error) {
    await stop();
    throw error;
  } finally {
    signal?.removeEventListener("abort", abort);
  }
  return { url, operatorKey: vars.ADMIN_API_KEY, bankSecret: vars.BANK_WEBHOOK_SECRET, persistTo, stop };
}
