#!/usr/bin/env node
// `npm run build` (and `prepare`): compiles into dist.next/ beside dist/, then swaps it in, so a
// process running from dist/ (`npm start`, `npx cupbearer`) never finds its files gone while tsc
// runs, and a failed compile leaves the working dist/ as it was. Skips the compile when dist/ is
// newer than every source (`--force` compiles anyway).
//
//   node scripts/build.mjs [--force] [--project tsconfig.build.json]
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";

const args = process.argv.slice(2);
const force = args.includes("--force");
const projectAt = args.indexOf("--project");
const project = projectAt === -1 ? "tsconfig.build.json" : args[projectAt + 1];
const root = process.cwd();
const out = join(root, "dist");
const next = join(root, "dist.next");
const stamp = join(out, ".build-stamp");

/** The newest modification time under these paths: files and folders (a deleted file changes its folder's). */
function newest(paths) {
  let max = 0;
  const visit = (path) => {
    if (!existsSync(path)) return;
    const st = statSync(path);
    max = Math.max(max, st.mtimeMs);
    if (st.isDirectory()) for (const name of readdirSync(path)) visit(join(path, name));
  };
  paths.forEach(visit);
  return max;
}

const inputs = ["src", "demo", "bench", "package.json", "package-lock.json", "tsconfig.json", project].map(
  (p) => join(root, p),
);
if (!force && existsSync(stamp) && statSync(stamp).mtimeMs > newest(inputs)) {
  console.log("dist/ is up to date");
  process.exit(0);
}

rmSync(next, { recursive: true, force: true });
const tsc = resolve(root, "node_modules/typescript/bin/tsc");
const compiled = spawnSync(process.execPath, [tsc, "-p", project, "--outDir", next], { stdio: "inherit" });
if (compiled.status !== 0) {
  rmSync(next, { recursive: true, force: true });
  console.error(`tsc failed: dist/ left as it was`);
  process.exit(compiled.status ?? 1);
}
writeFileSync(join(next, ".build-stamp"), `${new Date().toISOString()}\n`);

// Two renames: dist/ is missing only between them, for microseconds instead of a whole compile.
const old = join(root, `dist.old-${process.pid}`);
if (existsSync(out)) renameSync(out, old);
renameSync(next, out);
rmSync(old, { recursive: true, force: true });
console.log("dist/ built");
