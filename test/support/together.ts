import { readdirSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import t from "tap";

/**
 * Runs every `*.test.ts` of `dir` in this one process, in name order. For folders of pure unit
 * tests: a file of its own costs about a second of CPU to start (tap, the TypeScript loader,
 * coverage) for milliseconds of tests, and the files share the modules they load. tap runs
 * these folders only through their entry file (package.json's tap.exclude); one file alone still
 * runs with `npx tap test/core/path.test.ts`.
 */
export async function runTogether(dir: string): Promise<void> {
  const files = readdirSync(dir)
    .filter((name) => name.endsWith(".test.ts"))
    .sort();
  if (files.length === 0) throw new Error(`no test files in ${dir}`);
  for (const [i, name] of files.entries()) {
    await import(pathToFileURL(join(dir, name)).href);
    // tap ends its root test once nothing is pending for a while when a teardown is set on it
    // (a file's top-level t.teardown); the files after that would be refused: fail, loudly.
    if (t.ended && i < files.length - 1) {
      process.stderr.write(`${dir}: tap ended after ${i + 1} of ${files.length} files\n`);
      process.exitCode = 1;
      return;
    }
  }
}
