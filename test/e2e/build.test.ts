/**
 * scripts/build.mjs (`npm run build`, `prepare`): compiles beside dist/ and swaps, so a process
 * running from dist/ keeps its files while tsc runs and after a failed compile; skips when dist/
 * is fresh. Run on a tiny project of its own (a temp folder using this repository's TypeScript),
 * not on the repository: that build is `npm test`'s own first step.
 */
import { execFile, spawn } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, symlink, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import t from "tap";

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, "../..");
const SCRIPT = join(ROOT, "scripts/build.mjs");
// Three compiles of a tiny project without TypeScript's standard library: well under a second each.
t.setTimeout(300_000);

async function project(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "cupbearer-build-"));
  await mkdir(join(dir, "src"));
  await symlink(join(ROOT, "node_modules"), join(dir, "node_modules"));
  await writeFile(join(dir, "package.json"), '{ "type": "module" }\n');
  await writeFile(
    join(dir, "tsconfig.build.json"),
    JSON.stringify({
      compilerOptions: {
        module: "NodeNext",
        target: "ES2022",
        rootDir: ".",
        outDir: "dist",
        types: [],
        strict: true,
        // TypeScript's standard library is most of a compile's cost (2.6 s of CPU against 0.2 s):
        // these sources need only the global types tsc insists on.
        noLib: true,
      },
      include: ["src"],
    }),
  );
  await writeFile(
    join(dir, "src/globals.d.ts"),
    "interface Array<T> {} interface Boolean {} interface CallableFunction {} interface Function {}\n" +
      "interface IArguments {} interface NewableFunction {} interface Number {} interface Object {}\n" +
      "interface RegExp {} interface String {}\n",
  );
  await writeFile(join(dir, "src/main.ts"), 'export const version: string = "1";\n');
  await writeFile(join(dir, "src/late.ts"), 'export const late: string = "late 1";\n');
  return dir;
}

const build = (cwd: string, ...args: string[]) =>
  run(process.execPath, [SCRIPT, ...args], { cwd }).then(
    (r) => ({ code: 0, out: r.stdout + r.stderr }),
    (e: { code?: number; stdout?: string; stderr?: string }) => ({
      code: e.code ?? -1,
      out: `${e.stdout}${e.stderr}`,
    }),
  );

// One project through every step.
t.test("build, skip, a running process, a failed compile, a rebuild", async (t) => {
  const dir = await project();
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, "src/gone.ts"), "export const gone = 1;\n");
  const first = await build(dir);
  t.equal(first.code, 0, first.out);
  t.match(first.out, "dist/ built");
  t.equal(await readFile(join(dir, "dist/src/main.js"), "utf8"), 'export const version = "1";\n');
  t.match((await build(dir)).out, "dist/ is up to date", "nothing changed: no compile");

  // Imports late.js only when told to, after the builds below: as `cupbearer` loads the proxy lazily.
  const child = spawn(
    process.execPath,
    [
      "-e",
      'process.stdin.once("data", async () => { const m = await import("./dist/src/late.js"); console.log(m.late); })',
    ],
    { cwd: dir, stdio: ["pipe", "pipe", "inherit"], env: { ...process.env, NODE_OPTIONS: "" } },
  );
  t.teardown(() => child.kill());

  // Times ahead of the stamp: a clock that has not moved must not hide a change.
  const touch = (path: string, seconds: number) => {
    const when = new Date(Date.now() + seconds * 1000);
    return utimes(path, when, when);
  };
  await writeFile(join(dir, "src/main.ts"), "export const version: number = ;\n");
  await touch(join(dir, "src/main.ts"), 5);
  const failed = await build(dir);
  t.not(failed.code, 0, "the compile fails");
  t.match(failed.out, "dist/ left as it was");
  t.equal(
    await readFile(join(dir, "dist/src/main.js"), "utf8"),
    'export const version = "1";\n',
    "old dist intact",
  );
  t.notOk(existsSync(join(dir, "dist.next")), "no half-built folder left");

  await writeFile(join(dir, "src/late.ts"), 'export const late: string = "late 2";\n');
  await writeFile(join(dir, "src/main.ts"), 'export const version: string = "2";\n');
  await rm(join(dir, "src/gone.ts"));
  await touch(join(dir, "src/main.ts"), 10);
  t.match((await build(dir)).out, "dist/ built");
  t.match(await readFile(join(dir, "dist/src/main.js"), "utf8"), '"2"');
  t.notOk(
    existsSync(join(dir, "dist/src/gone.js")),
    "a deleted source's output is gone (a fresh folder each time)",
  );
  t.strictSame(
    readdirSync(dir).sort(),
    ["dist", "node_modules", "package.json", "src", "tsconfig.build.json"],
    "no dist.next or dist.old left",
  );

  const output = new Promise<string>((resolve) =>
    child.stdout.once("data", (d: Buffer) => resolve(d.toString())),
  );
  child.stdin.write("go\n");
  t.equal((await output).trim(), "late 2", "the running process imports from the swapped-in dist/");
});
