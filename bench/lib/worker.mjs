/**
 * The Worker under test: built once with wrangler's bundler from bench/floor-worker.ts (wrangler.toml
 * as it is now + bench/floor-bindings.toml), D1 migrations applied to a fresh state directory, served
 * in workerd by bench/serve.mjs (Miniflare) on 127.0.0.1. The worker is ours to stop, always: on
 * stopWorker(), on SIGINT/SIGTERM/SIGHUP and, as a last resort, on exit (its whole process group).
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { ROOT, log, sleep } from "./common.mjs";

const WRANGLER = path.join(ROOT, "node_modules", "wrangler", "bin", "wrangler.js");

// ── process lifecycle: the worker is ours to stop, always ───────────────────────────────

const state = { worker: null, tmp: null, keep: false, stopping: null };

/** A fresh temporary directory (state, build, logs), removed by cleanupTmp() unless `keep`. */
export function makeTmp({ keep = false } = {}) {
  state.tmp = fs.mkdtempSync(path.join(os.tmpdir(), "va-bench-"));
  state.keep = keep;
  return state.tmp;
}

export function tmpDir() {
  return state.tmp;
}

/** The served worker's process id (the root of its process group), or undefined. */
export function workerPid() {
  return state.worker?.pid;
}

function childEnv(tmp) {
  const env = {
    ...process.env,
    // Local only: no metrics, no update check (the banner does one), no cf.json download.
    WRANGLER_SEND_METRICS: "false",
    WRANGLER_SEND_ERROR_REPORTS: "false",
    WRANGLER_HIDE_BANNER: "true",
    CLOUDFLARE_CF_FETCH_ENABLED: "false",
    WRANGLER_REGISTRY_PATH: path.join(tmp, "registry"),
    WRANGLER_LOG_PATH: path.join(tmp, "wrangler-logs"),
    // Node 22 for wrangler whatever `node` is on PATH.
    PATH: `${path.dirname(process.execPath)}${path.delimiter}${process.env.PATH ?? ""}`,
  };
  delete env.CLOUDFLARE_ACCOUNT_ID;
  delete env.CLOUDFLARE_API_TOKEN;
  delete env.CLOUDFLARE_API_KEY;
  return env;
}

/** Runs wrangler to completion (migrations, build); its output goes to a log file. */
function runWrangler(args, tmp, logName) {
  const logFile = path.join(tmp, logName);
  const out = fs.openSync(logFile, "w");
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [WRANGLER, ...args], { cwd: ROOT, env: childEnv(tmp), stdio: ["ignore", out, out] });
    child.on("error", reject);
    child.on("exit", (code, signal) => {
      fs.closeSync(out);
      if (code === 0) return resolve();
      reject(new Error(`wrangler ${args[0]} ${args[1] ?? ""} failed (${signal ?? `exit ${code}`}):\n${tail(logFile)}`));
    });
  });
}

export function tail(file, lines = 40) {
  try {
    return fs.readFileSync(file, "utf8").split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

export async function stopWorker() {
  const child = state.worker;
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  state.stopping ??= (async () => {
    const exited = new Promise((resolve) => child.once("exit", resolve));
    // The worker was started as its own process group (wrangler + its workerd children): end that group.
    try {
      process.kill(-child.pid, "SIGTERM");
    } catch {}
    const timedOut = await Promise.race([exited.then(() => false), sleep(5000).then(() => true)]);
    if (timedOut) {
      try {
        process.kill(-child.pid, "SIGKILL");
      } catch {}
      await Promise.race([exited, sleep(2000)]);
    }
  })();
  return state.stopping;
}

export function cleanupTmp() {
  if (!state.tmp) return;
  if (state.keep) {
    log(`state kept in ${state.tmp}`);
    return;
  }
  try {
    fs.rmSync(state.tmp, { recursive: true, force: true });
  } catch {}
}

for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.on(signal, () => {
    log(`\n${signal}: stopping the worker…`);
    stopWorker().finally(() => {
      cleanupTmp();
      process.exit(signal === "SIGINT" ? 130 : 143);
    });
  });
}
process.on("exit", () => {
  // Last resort (an exit nobody awaited): never leave workerd behind.
  const child = state.worker;
  if (child && child.exitCode === null && child.signalCode === null) {
    try {
      process.kill(-child.pid, "SIGKILL");
    } catch {}
  }
});

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

// ── configuration ─────────────────────────────────────────────────────────────────────

/**
 * The benchmark's wrangler config: ../wrangler.toml as it is now (so the bench never drifts
 * from production), with `main` → bench/floor-worker.ts, paths made absolute (the file lives
 * in the temporary directory), and bench/floor-bindings.toml appended. Written to `file`.
 */
function writeBenchConfig(file) {
  const source = fs.readFileSync(path.join(ROOT, "wrangler.toml"), "utf8");
  let inTable = false;
  let sawMain = false;
  const lines = source.split("\n").map((line) => {
    const trimmed = line.trim();
    if (trimmed.startsWith("[")) inTable = true;
    if (!inTable && /^main\s*=/.test(trimmed)) {
      sawMain = true;
      return `main = ${JSON.stringify(path.join(ROOT, "bench", "floor-worker.ts"))}`;
    }
    if (!inTable && /^name\s*=/.test(trimmed)) return `name = "virtual-accounts-api-bench"`;
    const dir = trimmed.match(/^migrations_dir\s*=\s*"([^"]*)"/);
    if (dir) return `migrations_dir = ${JSON.stringify(path.resolve(ROOT, dir[1]))}`;
    // [assets] directory (the docs page's script): relative to the repository, not to tmp.
    const assets = trimmed.match(/^directory\s*=\s*"([^"]*)"/);
    if (assets) return `directory = ${JSON.stringify(path.resolve(ROOT, assets[1]))}`;
    return line;
  });
  if (!sawMain) throw new Error("wrangler.toml has no top-level `main`: cannot point the bench at bench/floor-worker.ts");
  const overlay = fs.readFileSync(path.join(ROOT, "bench", "floor-bindings.toml"), "utf8");
  fs.writeFileSync(file, `# Generated by the bench (bench/lib/worker.mjs) from wrangler.toml + bench/floor-bindings.toml. Do not edit.\n${lines.join("\n")}\n\n${overlay}`);
  return file;
}

/** The Worker's variables: every key of .dev.vars.example, with fresh secrets for this run. */
export function workerVars() {
  const vars = {};
  const example = path.join(ROOT, ".dev.vars.example");
  if (fs.existsSync(example)) {
    for (const line of fs.readFileSync(example, "utf8").split("\n")) {
      const match = line.match(/^([A-Z_][A-Z0-9_]*)=(.*)$/);
      if (match) vars[match[1]] = match[2];
    }
  }
  vars.ADMIN_API_KEY = `sk_operator_bench_${randomBytes(16).toString("hex")}`;
  vars.BANK_WEBHOOK_SECRET = `whsec_bench_${randomBytes(16).toString("hex")}`;
  vars.BENCH = "true";
  return vars;
}

// ── the worker ──────────────────────────────────────────────────────────────────────────

/** Builds, migrates and serves the Worker with `vars`; resolves when it answers HTTP. */
export async function startWorker(tmp, vars, { port: fixedPort = 0, verbose = false } = {}) {
  const BENCH_CONFIG = writeBenchConfig(path.join(tmp, "wrangler.bench.toml"));
  const persist = path.join(tmp, "state");
  const bundle = path.join(tmp, "bundle");
  log("applying D1 migrations to a fresh state directory…");
  await runWrangler(["d1", "migrations", "apply", "DB", "--local", "--persist-to", persist, "-c", BENCH_CONFIG], tmp, "migrations.log");
  // Built once, with wrangler's own bundler, into the temporary directory: edits to src/ while
  // the bench runs change nothing under measurement.
  log("building the worker (src/ + bench/floor-worker.ts)…");
  await runWrangler(["deploy", "--dry-run", "--outdir", bundle, "-c", BENCH_CONFIG], tmp, "build.log");
  const entry = path.join(bundle, "floor-worker.js");
  if (!fs.existsSync(entry)) throw new Error(`the build did not produce ${entry}:\n${tail(path.join(tmp, "build.log"))}`);

  const port = fixedPort || (await freePort());
  const varsFile = path.join(tmp, "vars.json");
  fs.writeFileSync(varsFile, JSON.stringify(vars), { mode: 0o600 });
  const logFile = path.join(tmp, "worker.log");
  const out = fs.openSync(logFile, "a");
  log(`starting the worker in workerd (Miniflare) on 127.0.0.1:${port}…`);
  const child = spawn(process.execPath, [path.join(ROOT, "bench", "serve.mjs"), BENCH_CONFIG, entry, persist, String(port), varsFile, logFile], {
    cwd: ROOT,
    env: childEnv(tmp),
    stdio: ["pipe", "pipe", verbose ? "inherit" : out],
    detached: true, // its own process group, so that stopping it stops workerd too
  });
  state.worker = child;
  fs.closeSync(out);
  const ready = new Promise((resolve, reject) => {
    let buffered = "";
    child.stdout.on("data", (chunk) => {
      buffered += chunk;
      const line = buffered.split("\n").find((candidate) => candidate.startsWith("{"));
      if (line) resolve(JSON.parse(line).ready);
    });
    child.on("exit", (code, signal) => reject(new Error(`the worker exited early (${signal ?? `exit ${code}`}):\n${tail(logFile)}`)));
  });
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`the worker did not start within 120 s:\n${tail(logFile)}`)), 120_000);
  });
  try {
    await Promise.race([ready, timeout]);
  } finally {
    clearTimeout(timer);
  }
  const base = `http://127.0.0.1:${port}`;
  // Any HTTP answer means the app is up (this path is a 404 from the app).
  await fetch(`${base}/bench/ready`, { signal: AbortSignal.timeout(30_000) });
  return { base, port, logFile, pid: child.pid };
}
