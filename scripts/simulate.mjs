// Runs the model-based simulation (test/simulation/) alone, longer or from another seed than
// `npm test` does:
//
//   npm run simulate -- --seed 42 --runs 200 [--steps 40] [--time 1800]
//   npm run simulate -- --seed random               a new seed, printed first
//   npm run simulate -- --seed S --path P --replay-path R   replays one counterexample, as printed
//   npm run simulate -- --trace                     prints every run's trace (and the Worker's logs)
//
// Anything else is passed to vitest. The settings reach the test inside workerd as SIM_*
// bindings (vitest.config.ts reads them from this process's environment).
import { spawnSync } from "node:child_process";

const settings = {
  "--seed": "SIM_SEED",
  "--runs": "SIM_RUNS",
  "--steps": "SIM_STEPS",
  "--time": "SIM_TIME_LIMIT_S",
  "--path": "SIM_PATH",
  "--replay-path": "SIM_REPLAY_PATH",
};

// Longer than npm test's budget unless told otherwise.
const env = { ...process.env, SIM_RUNS: process.env.SIM_RUNS ?? "100", SIM_TIME_LIMIT_S: process.env.SIM_TIME_LIMIT_S ?? "1800" };
const vitestArgs = [];
const args = process.argv.slice(2);
for (let i = 0; i < args.length; i++) {
  const arg = args[i];
  const [name, inline] = arg.includes("=") ? [arg.slice(0, arg.indexOf("=")), arg.slice(arg.indexOf("=") + 1)] : [arg, undefined];
  if (name === "--trace") {
    env.SIM_TRACE = "1";
    vitestArgs.push("--silent=false");
    continue;
  }
  if (!(name in settings)) {
    vitestArgs.push(arg);
    continue;
  }
  const value = inline ?? args[++i];
  if (value === undefined) {
    console.error(`${name} needs a value`);
    process.exit(2);
  }
  env[settings[name]] = value;
}
if (env.SIM_SEED === "random") env.SIM_SEED = String(Math.floor(Math.random() * 2 ** 31));

console.log(
  `simulation: seed ${env.SIM_SEED || "(default)"}, ${env.SIM_RUNS} runs, ${env.SIM_STEPS || "default"} steps at most, ` +
    `${env.SIM_TIME_LIMIT_S} s budget${env.SIM_PATH ? `, replaying path ${env.SIM_PATH}` : ""}`,
);
const result = spawnSync("npx", ["vitest", "run", "test/simulation/", ...vitestArgs], { stdio: "inherit", env });
process.exit(result.status ?? 1);
