/**
 * Measuring the served Worker (Linux /proc CPU accounting) and reporting: machine, tables, the worker's log.
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ROOT, round, sleep } from "./common.mjs";

// ── CPU accounting (Linux): where the time goes, robust to a busy machine ───────────────

let clockTicks = null;
function ticksPerSecond() {
  if (clockTicks === null) {
    clockTicks = 100; // USER_HZ on every mainstream Linux
    try {
      const value = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim());
      if (Number.isInteger(value) && value > 0) clockTicks = value;
    } catch {}
  }
  return clockTicks;
}

/** CPU ms used so far by a process and all its descendants (the worker: serve.mjs + workerd), or null. */
export function processTreeCpuMs(rootPid) {
  if (process.platform !== "linux" || !rootPid) return null;
  const processes = [];
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      processes.push({ pid: Number(entry), ppid: Number(fields[1]), ticks: Number(fields[11]) + Number(fields[12]) });
    } catch {}
  }
  const tree = new Set([rootPid]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const p of processes) {
      if (!tree.has(p.pid) && tree.has(p.ppid)) {
        tree.add(p.pid);
        grew = true;
      }
    }
  }
  const ticks = processes.filter((p) => tree.has(p.pid)).reduce((total, p) => total + p.ticks, 0);
  return (ticks * 1000) / ticksPerSecond();
}

/**
 * Waits until the worker (process tree of `pid`) is idle (under 5 % of a core for a second), so
 * that background work left by the previous scenario (the payout queue's consumer, alarms) is not
 * billed to the next. Returns the seconds waited (a long wait means a backlog), at most `maxS`.
 */
export async function quiesce(pid, maxS = 60) {
  const started = performance.now();
  if (processTreeCpuMs(pid) === null) return 0;
  for (;;) {
    const before = processTreeCpuMs(pid);
    await sleep(1000);
    if (processTreeCpuMs(pid) - before < 50) break;
    if ((performance.now() - started) / 1000 > maxS) break;
  }
  return round((performance.now() - started) / 1000 - 1, 1);
}

export function selfCpuMs() {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1000;
}

export function table(rows, columns) {
  const widths = columns.map((column) => Math.max(column.title.length, ...rows.map((row) => String(column.value(row)).length)));
  const line = (cells) => cells.map((cell, i) => (columns[i].left ? String(cell).padEnd(widths[i]) : String(cell).padStart(widths[i]))).join("  ");
  return [line(columns.map((column) => column.title)), widths.map((width) => "-".repeat(width)).join("  "), ...rows.map((row) => line(columns.map((column) => column.value(row))))].join("\n");
}

export function machine() {
  const cpus = os.cpus();
  const version = (pkg) => {
    try {
      return JSON.parse(fs.readFileSync(path.join(ROOT, "node_modules", pkg, "package.json"), "utf8")).version;
    } catch {
      return null;
    }
  };
  return {
    cpu: cpus[0]?.model ?? "unknown",
    cores: cpus.length,
    memory_gb: round(os.totalmem() / 2 ** 30, 1),
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    wrangler: version("wrangler"),
    workerd: version("workerd"),
    autocannon: version("autocannon"),
    date: new Date().toISOString(),
  };
}

/** The worker's own error lines in the dev log (level "error" JSON logs, uncaught exceptions). */
export function workerErrors(logFile) {
  let text = "";
  try {
    text = fs.readFileSync(logFile, "utf8");
  } catch {
    return { count: 0, samples: [] };
  }
  const lines = text.split("\n").filter((line) => /^\[error\]|Uncaught|workerd\/|miniflare failed/.test(line));
  return { count: lines.length, samples: lines.slice(0, 5).map((line) => line.slice(0, 400)) };
}
