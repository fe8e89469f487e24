// Prints the gzip size of every JS and CSS file in dist/assets and fails when the total is over
// the budget. Run after `npm run build`.

import { readdir, readFile } from "node:fs/promises";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

const BUDGET_BYTES = 250 * 1024;
const assets = join(dirname(fileURLToPath(import.meta.url)), "..", "dist", "assets");

let files;
try {
  files = (await readdir(assets)).filter((name) => /\.(m?js|css)$/.test(name)).sort();
} catch {
  console.error(`No build found at ${assets}: run \`npm run build\` first.`);
  process.exit(1);
}
if (files.length === 0) {
  console.error(`No JS or CSS files in ${assets}: run \`npm run build\` first.`);
  process.exit(1);
}

const kib = (bytes) => `${(bytes / 1024).toFixed(1)} KiB`;
let total = 0;
for (const name of files) {
  const content = await readFile(join(assets, name));
  const gzipped = gzipSync(content, { level: 9 }).length;
  total += gzipped;
  console.log(`${name.padEnd(40)} ${kib(content.length).padStart(12)} raw ${kib(gzipped).padStart(12)} gzip`);
}
console.log(`total gzip: ${kib(total)} (budget ${kib(BUDGET_BYTES)})`);
if (total > BUDGET_BYTES) {
  console.error(`Over budget by ${kib(total - BUDGET_BYTES)}.`);
  process.exit(1);
}
