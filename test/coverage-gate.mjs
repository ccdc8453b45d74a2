// Fails `npm test` when a gated source file is under the floors, or missing from the report.
// Reads the json-summary report tap's c8 has just written; compiled copies run by child
// processes (dist/) are mapped back onto the TypeScript sources there.
//
// Gated: everything a request or a security review goes through: src/core, src/auth, src/assertions
// (signed identity assertions), src/aws, src/config, src/proxy, src/admin, src/store, src/signin
// (terminal sign-in: SRP, tokens on disk), src/sessions (browser sign-in: sealed cookies, the code
// flow), and app.ts, runtime.ts, lifecycle.ts, the metrics and the log.
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import ts from "typescript";

const LINES_FLOOR = 90;
const BRANCHES_FLOOR = 80;
const GATED_DIRS = [
  "core",
  "auth",
  "assertions",
  "aws",
  "config",
  "proxy",
  "admin",
  "store",
  "signin",
  "sessions",
];
const GATED_FILES = [
  "app.ts",
  "runtime.ts",
  "lifecycle.ts",
  "bound-metrics.ts",
  "metrics.ts",
  "log.ts",
  "tracing.ts",
  "tracing-otel.ts",
];

const root = process.cwd();
const src = join(root, "src");

/** Every .ts file under `dir`, recursively, as absolute paths. */
function tsFiles(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return tsFiles(path);
    return entry.name.endsWith(".ts") && !entry.name.endsWith(".d.ts") ? [path] : [];
  });
}

/**
 * True for a file that compiles to no code (interfaces and types only): nothing runs, so nothing
 * can be covered and it is rightly absent from the report.
 */
function typesOnly(file) {
  const { outputText } = ts.transpileModule(readFileSync(file, "utf8"), {
    compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, removeComments: true },
  });
  return outputText.replace(/export\s*\{\s*\};?/g, "").trim() === "";
}

const gated = [
  ...GATED_DIRS.flatMap((d) => tsFiles(join(src, d))),
  ...GATED_FILES.map((f) => join(src, f)),
].sort();
const summary = JSON.parse(readFileSync(".tap/report/coverage-summary.json", "utf8"));

const problems = [];
const skipped = [];
for (const file of gated) {
  const name = relative(root, file);
  const entry = summary[file];
  if (entry === undefined) {
    if (typesOnly(file)) skipped.push(name);
    else problems.push(`${name}: not in the coverage report (no test loads it)`);
    continue;
  }
  const { lines, branches } = entry;
  if (lines.pct < LINES_FLOOR) problems.push(`${name}: ${lines.pct}% of lines (floor ${LINES_FLOOR}%)`);
  // A file with no branches reports 100%.
  if (branches.pct < BRANCHES_FLOOR) {
    problems.push(
      `${name}: ${branches.pct}% of branches, ${branches.covered}/${branches.total} (floor ${BRANCHES_FLOOR}%)`,
    );
  }
}

if (problems.length > 0) {
  console.error(
    `coverage gate: ${problems.length} problem(s) in ${gated.length} gated files:\n  ${problems.join("\n  ")}`,
  );
  process.exit(1);
}
const checked = gated.length - skipped.length;
const typesNote = skipped.length > 0 ? `; types only, nothing to run: ${skipped.join(", ")}` : "";
console.log(
  `coverage gate: ${checked} gated files, each at or above ${LINES_FLOOR}% of lines and ${BRANCHES_FLOOR}% of branches${typesNote}`,
);
