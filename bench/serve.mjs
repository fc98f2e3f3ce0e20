#!/usr/bin/env node
/**
 * Bench only: serves the built Worker in workerd through Miniflare's API, the way `wrangler dev`
 * does but without its extra proxy Worker, file watcher and log relay, so that what the bench
 * measures is the Worker (and its D1, Durable Objects and Queues), not the dev tooling.
 * Started by bench/lib/worker.mjs (for run.mjs and reconcile.mjs) as its own process group; it stops on SIGTERM/SIGINT.
 *
 *   node bench/serve.mjs <wrangler config> <built entry .js> <state dir> <port> <vars.json> <log file>
 *
 * The bindings come from the wrangler config through wrangler's own translation
 * (unstable_getMiniflareWorkerOptions), so they are exactly those `wrangler dev` would give.
 * Listens on 127.0.0.1 only; prints one JSON line `{ "ready": "<url>" }` on stdout when it answers.
 */
import fs from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";

const [configPath, entry, stateDir, port, varsFile, logFile] = process.argv.slice(2);
if (!logFile) {
  process.stderr.write("usage: node bench/serve.mjs <wrangler config> <built entry .js> <state dir> <port> <vars.json> <log file>\n");
  process.exit(2);
}

const require = createRequire(import.meta.url);
const wrangler = require("wrangler");
// The Miniflare that this wrangler version drives (wrangler's own dependency).
const { Miniflare, convertV4MiniflareOptions } = createRequire(require.resolve("wrangler"))("miniflare");

const vars = JSON.parse(fs.readFileSync(varsFile, "utf8"));
const log = fs.createWriteStream(logFile, { flags: "a" });
// Bench-only metric lines (`{"bench_metric":…}`, e.g. from the metered reconciliation consumer
// in bench/floor-worker.ts) go, one JSON object per line, to metrics.jsonl beside the log.
let metrics = null;
const counts = { error: 0, warn: 0 };

// modulesRules only matter to an unbundled entry; ours is wrangler's single-module build.
const { workerOptions } = wrangler.unstable_getMiniflareWorkerOptions(configPath);
const { modulesRules: _unbundledOnly, ...bindingsAndSettings } = workerOptions;

const mf = new Miniflare(
  convertV4MiniflareOptions({
    host: "127.0.0.1",
    port: Number(port),
    cf: false, // no download of request.cf data
    logRequests: false,
    // Same layout as `wrangler dev --persist-to <stateDir>` and `wrangler d1 migrations apply --persist-to`.
    resourcePersistencePath: path.join(stateDir, "v3"),
    resourceTmpPath: path.join(stateDir, "tmp"),
    // The Worker logs every request at info level; keep only warnings and errors, in a file.
    handleStructuredLogs: ({ level, message }) => {
      if (message.startsWith('{"bench_metric":')) {
        metrics ??= fs.createWriteStream(path.join(path.dirname(logFile), "metrics.jsonl"), { flags: "a" });
        metrics.write(`${message}\n`);
      } else if (level === "error" || level === "warn") {
        counts[level]++;
        log.write(`[${level}] ${message}\n`);
      }
    },
    workers: [
      {
        ...bindingsAndSettings,
        name: "virtual-accounts-api-bench",
        modules: true,
        scriptPath: path.resolve(entry),
        bindings: { ...(bindingsAndSettings.bindings ?? {}), ...vars },
      },
    ],
  }),
);

let stopping = false;
async function stop(code) {
  if (stopping) return;
  stopping = true;
  try {
    await mf.dispose();
  } finally {
    metrics?.end();
    log.end(() => process.exit(code));
  }
}
process.on("SIGTERM", () => stop(0));
process.on("SIGINT", () => stop(0));
process.on("SIGHUP", () => stop(0));
// The bench talks to us over stdin's lifetime too: if it dies, we go.
process.stdin.on("end", () => stop(0));
process.stdin.resume();

try {
  const url = await mf.ready;
  process.stdout.write(`${JSON.stringify({ ready: url.href })}\n`);
} catch (error) {
  process.stderr.write(`miniflare failed to start: ${error?.stack ?? error}\n`);
  await stop(1);
}
