import { readdirSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

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
  for (const name of files) await import(pathToFileURL(join(dir, name)).href);
}
