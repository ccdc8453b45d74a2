// Fails `npm test` when the security-relevant core drops below 90% of lines covered.
// Reads the json-summary report tap's c8 has just written.
import { readFileSync } from "node:fs";
import { join } from "node:path";

const FLOOR = 90;
// Only the TypeScript sources: compiled copies run by child processes map back onto them.
const CORE_DIRS = ["core", "auth", "aws", "config", "proxy"].map((d) => `${join(process.cwd(), "src", d)}/`);
const isCore = (file) => CORE_DIRS.some((d) => file.startsWith(d));
const summary = JSON.parse(readFileSync(".tap/report/coverage-summary.json", "utf8"));
const low = Object.entries(summary)
  .filter(([file]) => isCore(file))
  .filter(([, v]) => v.lines.pct < FLOOR)
  .map(([file, v]) => `${file.slice(file.indexOf("/src/") + 1)}: ${v.lines.pct}% of lines`);
const checked = Object.keys(summary).filter(isCore).length;
if (checked === 0) {
  console.error("coverage gate: no core files in the coverage report");
  process.exit(1);
}
if (low.length > 0) {
  console.error(`coverage gate: below ${FLOOR}% of lines:\n  ${low.join("\n  ")}`);
  process.exit(1);
}
console.log(`coverage gate: ${checked} core files, each at or above ${FLOOR}% of lines`);
