import { execFile, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { delimiter, dirname, join, relative } from "node:path";
import { promisify } from "node:util";
import t from "tap";
import { request } from "undici";
import { freePorts } from "../support/emulators.js";
import { waitFor } from "../support/wait.js";

/**
 * The package as it ships, which is also what the container image holds (see Dockerfile): the
 * tarball `npm pack` makes, installed with production dependencies only into an empty folder.
 * A dependency declared only as a devDependency, or a file missing from `files`, fails here.
 */

const ROOT = join(import.meta.dirname, "../..");
const run = promisify(execFile);

// One pack and one install for every assertion below; the install is the slow part.
t.setTimeout(300_000);

// npm passes its own settings to scripts (npm_config_local_prefix=<repo>, npm_package_*, ...);
// the nested npm must not inherit them, or it could act on the repository instead of the temp folder.
const npmEnv = Object.fromEntries(
  Object.entries(process.env).filter(
    ([k]) => !/^npm_(config_local_prefix|config_prefix|config_call|command|lifecycle_|package_)/i.test(k),
  ),
);

/**
 * `cmd args` as in production: tap's process tracker hooks every spawn to put its module loader
 * into NODE_OPTIONS (and coverage may set NODE_V8_COVERAGE); `env -u` drops both again between
 * the spawn and the command.
 */
const plain = (cmd: string, args: string[]): [string, string[]] => [
  "env",
  ["-u", "NODE_OPTIONS", "-u", "NODE_V8_COVERAGE", cmd, ...args],
];

const pkg = JSON.parse(await readFile(join(ROOT, "package.json"), "utf8")) as {
  name: string;
  version: string;
};
const configs = (await readdir(join(ROOT, "config"))).filter((f) => f.endsWith(".yaml")).sort();

const work = await mkdtemp(join(tmpdir(), "cupbearer-package-"));
t.teardown(() => rm(work, { recursive: true, force: true }));
const packDir = join(work, "pack");
const installDir = join(work, "install");
const tmp = join(work, "tmp");
await Promise.all([packDir, installDir, tmp].map((d) => mkdir(d)));

interface Packed {
  filename: string;
  files: { path: string }[];
}

let packed: Packed | undefined;
let installed = false;

t.before(async () => {
  // npm test builds first; pack what was built. --ignore-scripts: `prepare` would rebuild dist/
  // while other test files run the CLI from it.
  if (!existsSync(join(ROOT, "dist/src/cli.js")))
    throw new Error("dist/ is missing: run `npm run build` first");
  const out = await run(
    ...plain("npm", ["pack", "--json", "--ignore-scripts", "--pack-destination", packDir]),
    {
      cwd: ROOT,
      env: npmEnv,
    },
  );
  [packed] = JSON.parse(out.stdout) as Packed[];
  if (packed === undefined) throw new Error("npm pack printed no package");

  // Its own package.json, so npm installs here and does not look for a project further up.
  await writeFile(join(installDir, "package.json"), '{ "name": "package-test", "private": true }\n');
  await run(
    ...plain("npm", [
      "install",
      "--omit=dev",
      "--no-audit",
      "--no-fund",
      "--no-package-lock",
      "--prefer-offline",
      join(packDir, packed.filename),
    ]),
    { cwd: installDir, env: npmEnv, maxBuffer: 16 * 1024 * 1024 },
  );
  installed = true;
});

const bin = join(installDir, "node_modules/.bin/cupbearer");
const packageDir = join(installDir, "node_modules", pkg.name);
// The installed bin runs through its `#!/usr/bin/env node` line, with this test's node first on
// PATH. TMPDIR points at an empty folder that must stay empty.
const cliEnv = {
  ...npmEnv,
  PATH: `${dirname(process.execPath)}${delimiter}${process.env.PATH ?? ""}`,
  TMPDIR: tmp,
};

function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(...plain(bin, args), {
      cwd: installDir,
      env: cliEnv,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => {
      stdout += d;
    });
    child.stderr.on("data", (d) => {
      stderr += d;
    });
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

/** Every file under `dir` with its size and modification time, to spot any write. */
async function snapshot(dir: string): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    const path = join(entry.parentPath, entry.name);
    const s = await stat(path).catch(() => undefined);
    files.set(relative(dir, path), s === undefined ? "gone" : `${s.size} ${s.mtimeMs}`);
  }
  return files;
}

t.test("the tarball holds the built proxy and no sources, tests, demo or benchmark", async (t) => {
  if (packed === undefined) return t.fail("npm pack failed");
  const paths = packed.files.map((f) => f.path);
  t.ok(paths.includes("package.json"));
  t.ok(paths.includes("dist/src/cli.js"), "the bin");
  for (const config of configs) t.ok(paths.includes(`config/${config}`), `config/${config}`);
  const stray = paths.filter(
    (p) =>
      /^(src|test|bench|demo|coverage|\.tap)\//.test(p) ||
      /^dist\/(test|bench|demo)\//.test(p) ||
      (p.endsWith(".ts") && !p.endsWith(".d.ts")),
  );
  t.same(stray, [], "nothing but dist/src, configs and docs");
});

t.test("installed with production dependencies only, the CLI runs and writes nothing", async (t) => {
  if (!installed) return t.fail("npm install of the tarball failed");
  const before = await snapshot(installDir);

  await t.test("--version prints package.json's version", async (t) => {
    const { code, stdout, stderr } = await cli(["--version"]);
    t.equal(code, 0, stderr);
    t.equal(stdout, `${pkg.version}\n`);
  });

  await t.test("check passes every config/*.yaml, read from the installed package", async (t) => {
    t.ok(configs.length > 0, "config/ holds example configs");
    // In parallel: each run loads the whole proxy, which takes a moment.
    const results = await Promise.all(
      configs.map((config) => cli(["check", "--config", join(packageDir, "config", config)])),
    );
    for (const [i, { code, stdout, stderr }] of results.entries()) {
      t.equal(code, 0, `${configs[i]} passes check ${stderr}`.trim());
      t.match(stdout, /: OK \(/);
    }
  });

  await t.test("start serves, then exits 0 on SIGTERM", async (t) => {
    const [port, adminPort] = await freePorts(2);
    const config = join(work, "start.yaml");
    await writeFile(
      config,
      [
        `listen: { host: 127.0.0.1, port: ${port} }`,
        `admin: { host: 127.0.0.1, port: ${adminPort} }`,
        "log: { level: warn }",
        "routes:",
        "  - { id: open, upstream: 'http://127.0.0.1:1', auth: { mode: public } }",
        "",
      ].join("\n"),
    );
    // stdout stays out of this test's own stdout, which is the TAP stream.
    const child = spawn(...plain(bin, ["--config", config]), {
      cwd: installDir,
      env: cliEnv,
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (d) => {
      stderr += d;
    });
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    t.teardown(() => {
      child.kill("SIGKILL");
    });
    const ready = await waitFor(
      `the installed bin to answer /readyz on 127.0.0.1:${adminPort}`,
      async () => {
        if (child.exitCode !== null) return -1; // exited: nothing more to wait for
        const res = await request(`http://127.0.0.1:${adminPort}/readyz`);
        await res.body.dump();
        return res.statusCode === 200 ? 200 : undefined;
      },
      { timeoutMs: 10_000, intervalMs: 100 },
    );
    t.equal(ready, 200, `/readyz ${stderr}`);
    const metrics = await request(`http://127.0.0.1:${adminPort}/metrics`);
    t.match(await metrics.body.text(), "cupbearer_requests_total");
    child.kill("SIGTERM");
    t.equal(await exited, 0, stderr);
  });

  const after = await snapshot(installDir);
  const changed = [...new Set([...before.keys(), ...after.keys()])].filter(
    (k) => before.get(k) !== after.get(k),
  );
  t.same(changed, [], "no file written, changed or removed in the install folder");
  t.same(await readdir(tmp), [], "nothing written to TMPDIR");
});
