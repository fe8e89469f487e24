// Prints the gzip size of every JS and CSS file in dist/ and fails when the total is over the
// budget, or when dist/ has a subdirectory (behind kube-apiserver, RBAC can grant
// `dashboard/<file>` but not `dashboard/<dir>/<file>`). Run after `npm run build`.

import { readdir, readFile } from "node:fs/promises";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

const BUDGET_BYTES = 250 * 1024;
const dist = join(dirname(fileURLToPath(import.meta.url)), "..", "dist");

let entries;
try {
  entries = await readdir(dist, { withFileTypes: true });
} catch {
  console.error(`No build found at ${dist}: run \`npm run build\` first.`);
  process.exit(1);
}
const directories = entries.filter((entry) => entry.isDirectory()).map((entry) => entry.name);
if (directories.length > 0) {
  console.error(`dist/ must be flat, but has ${directories.map((name) => `${name}/`).join(", ")}: check build.assetsDir in vite.config.ts.`);
  process.exit(1);
}
const files = entries
  .filter((entry) => entry.isFile() && /\.(m?js|css)$/.test(entry.name))
  .map((entry) => entry.name)
  .sort();
if (files.length === 0) {
  console.error(`No JS or CSS files in ${dist}: run \`npm run build\` first.`);
  process.exit(1);
}

const kib = (bytes) => `${(bytes / 1024).toFixed(1)} KiB`;
let total = 0;
for (const name of files) {
  const content = await readFile(join(dist, name));
  const gzipped = gzipSync(content, { level: 9 }).length;
  total += gzipped;
  console.log(`${name.padEnd(40)} ${kib(content.length).padStart(12)} raw ${kib(gzipped).padStart(12)} gzip`);
}
console.log(`total gzip: ${kib(total)} (budget ${kib(BUDGET_BYTES)})`);
if (total > BUDGET_BYTES) {
  console.error(`Over budget by ${kib(total - BUDGET_BYTES)}.`);
  process.exit(1);
}
