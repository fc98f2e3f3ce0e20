// Adds lockfile entries for workerd's macOS and Windows packages, which the registry these machines
// reach does not serve: without them `npm ci` refuses the lock ("Missing: @cloudflare/workerd-darwin-64").
// They are optional and for other platforms, so npm on Linux skips them. Run after any `npm install`
// that rewrites package-lock.json: node scripts/lock-platform-packages.mjs package-lock.json
import { readFileSync, writeFileSync } from "node:fs";
const file = process.argv[2];
const lock = JSON.parse(readFileSync(file, "utf8"));
const platforms = {
  "@cloudflare/workerd-darwin-64": { cpu: ["x64"], os: ["darwin"] },
  "@cloudflare/workerd-darwin-arm64": { cpu: ["arm64"], os: ["darwin"] },
  "@cloudflare/workerd-windows-64": { cpu: ["x64"], os: ["win32"] },
};
const entries = Object.entries(lock.packages);
const added = [];
for (const [path, entry] of entries) {
  if (!path.endsWith("node_modules/workerd")) continue;
  const base = path.slice(0, -"workerd".length);
  for (const [name, version] of Object.entries(entry.optionalDependencies ?? {})) {
    const target = base + name;
    if (lock.packages[target] || !platforms[name]) continue;
    const sibling = lock.packages[base + "@cloudflare/workerd-linux-64"];
    lock.packages[target] = {
      version,
      cpu: platforms[name].cpu,
      ...(sibling?.dev ? { dev: true } : {}),
      license: "Apache-2.0",
      optional: true,
      os: platforms[name].os,
      engines: { node: ">=16" },
    };
    added.push(`${target}@${version}`);
  }
}
// Keep npm's key order (sorted paths) so `npm install` rewrites nothing.
lock.packages = Object.fromEntries(Object.entries(lock.packages).sort(([a], [b]) => (a === "" ? -1 : b === "" ? 1 : a.localeCompare(b, "en"))));
writeFileSync(file, JSON.stringify(lock, null, 2) + "\n");
console.log(added.join("\n"));
