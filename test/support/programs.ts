/**
 * System programs some tests drive (Debian packages `.ci/run` installs when missing): without
 * one, a test skips loudly, except under CI=true, where that fails (as `withEmulator` does).
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import type { Test } from "tap";

/**
 * The program's path when it is installed; otherwise undefined after a loud skip of `t` (or a
 * failure under CI=true). `candidates` are tried in order.
 */
export function requireProgram(t: Test, name: string, candidates: readonly string[]): string | undefined {
  const found = candidates.find((p) => existsSync(p));
  if (found !== undefined) return found;
  const hint = `apt-get update && apt-get install -y ${name} (.ci/run does this)`;
  if (process.env.CI === "true") {
    t.fail(`${name} is required under CI=true but none of ${candidates.join(", ")} exists; ${hint}`);
  } else {
    const banner = `SKIPPED: ${name} not found (${candidates.join(", ")}); install it: ${hint}`;
    t.comment(`${"!".repeat(80)}\n${banner}\n${"!".repeat(80)}`);
    t.pass(`${name} tests`, { skip: banner });
  }
  return undefined;
}

/**
 * The Python that has `module` (a Debian package like python3-jwt puts it under /usr/bin/python3,
 * not into a pyenv one); undefined after a loud skip, or a failure under CI=true, as above.
 */
export function requirePythonModule(t: Test, debianPackage: string, module: string): string | undefined {
  for (const python of ["/usr/bin/python3", "python3"]) {
    if (spawnSync(python, ["-c", `import ${module}`], { stdio: "ignore" }).status === 0) return python;
  }
  return requireProgram(t, debianPackage, []);
}
