// Copies the API reference page's script (Scalar's standalone bundle) from node_modules into
// public/, the Worker's static assets (wrangler.toml [assets]), so that /docs works with no
// internet and its version is the one package-lock.json pins. The file (~4.7 MB) is too big to
// bundle into the Worker script and is not committed (.gitignore): npm runs this after every
// install (postinstall) and before dev, test and deploy.
import { copyFileSync, mkdirSync, readFileSync } from "node:fs";
import path from "node:path";

const root = path.join(import.meta.dirname, "..");
// @scalar/api-reference's exports map does not list its browser bundle: read it by path.
const packageDir = path.join(root, "node_modules", "@scalar", "api-reference");
const source = path.join(packageDir, "dist", "browser", "standalone.js");
const target = path.join(root, "public", "assets", "scalar-api-reference.js");

const script = readFileSync(source, "utf8");
// @scalar/hono-api-reference writes `Scalar.createApiReference('#app', config)` after loading the
// script: a bundle that no longer defines that global would leave /docs blank, so refuse it here.
if (!script.includes("window.Scalar={createApiReference:")) {
  const { version } = JSON.parse(readFileSync(path.join(packageDir, "package.json"), "utf8"));
  console.error(
    `copy-docs-assets: @scalar/api-reference ${version}'s standalone.js does not define window.Scalar.createApiReference, ` +
      "which @scalar/hono-api-reference's /docs page calls. Pin versions that agree.",
  );
  process.exit(1);
}
mkdirSync(path.dirname(target), { recursive: true });
copyFileSync(source, target);
